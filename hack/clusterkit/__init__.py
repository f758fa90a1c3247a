"""Building blocks of hack/localcluster.py, one job per module.

common      ClusterError, log, paths and the constants every module shares
binaries    locating (or building) the Go-built etcd, kube-* and kwok binaries
procs       process groups: spawning, signalling, reaping, wait_until, free_ports
supervisor  one cluster's pid files, logs and child processes (start, stop, check alive)
pki         openssl CA and certificates, kubeconfigs with embedded credentials
components  pure argv/config builders, so every component's flags read in one place
rest        stdlib HTTPS calls to the apiserver and the components' health endpoints
nodes       kwok fake-node manifests and readiness
nodeconfig  the real node's containerd, CNI, kubelet and kube-proxy configuration (pure)
metrics     metrics-server for the real node: flags, RBAC, APIService (pure), start
realnode    the real node's lifecycle: containerd, image import, kubelet, kube-proxy, stop
hostsetup   the real node's footprint on the host: checks, links, sysctls, cgroups, teardown
cli         the command line of hack/localcluster.py

hack/localcluster.py (LocalCluster and the CLI) is the only public entry point; tests and
benchmarks import from it, never from here.
"""
