"""KServe's controller as the control-plane benchmark's peer (`controlplane.py --peer kserve`).

What runs: KServe's own controller manager (github.com/kserve/kserve cmd/manager, built from
its Go module by hack/build-kserve.sh), with its own CRDs and its own inferenceservice-config
ConfigMap from that module, on the same fresh local cluster and kwok nodes as our operator:

* deployment mode RawDeployment (`deploy.defaultDeploymentMode`, and the annotation on each
  InferenceService): a Deployment and a Service per InferenceService, no Knative or Istio
  (their CRDs are absent; the manager probes for them and skips their watches);
* its admission webhooks as its install registers them (InferenceService defaulter and
  validator, pod mutator, ServingRuntime validators), served by the manager itself on a
  loopback port with a self-signed certificate: the manager always starts its webhook server
  (no flag turns it off), and the defaulter is part of every InferenceService's path;
* leader election off, metrics and health on loopback ports, the admin kubeconfig;
* one ClusterServingRuntime `kserve-tflite` for model format `tflite` (no built-in runtime
  serves .tflite; kwok never starts its container, so the image is a placeholder).

Each InferenceService is as close to our MLModelService as KServe allows: one replica
(`minReplicas: 1`, autoscaler class `none`, so no HPA), cluster-local (no Ingress; ours makes
none either), 10m CPU / 32Mi requested, and a model at an https storageUri, which makes the
pod mutator add KServe's storage-initializer init container (it never runs on kwok).

Requests are counted two ways, as for our operator: the manager's own client-go counter
(`rest_client_requests_total` on its metrics endpoint: exact, by method) and the apiserver's
rows attributed to it by verb and resource (`share`).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import subprocess
import sys
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "hack"))
sys.path.insert(0, str(REPO / "benchmarks"))

import controlplane_probes as probes  # noqa: E402
from localcluster import LocalCluster, free_ports, wait_until  # noqa: E402

API = "serving.kserve.io/v1beta1"
KIND = "InferenceService"
GROUP = "serving.kserve.io"
SYSTEM_NAMESPACE = "kserve"
RUNTIME = "kserve-tflite"
WARM_UP_NAMESPACE = "kserve-warm-up"
EVENT_REPORTER = "v1beta1Controllers"
# config/crd/full as its kustomization lists it (the storage containers' CRD is in a folder).
CRDS = {
    "inferenceservices": "",
    "servingruntimes": "",
    "clusterservingruntimes": "",
    "inferencegraphs": "",
    "trainedmodels": "",
    "clusterstoragecontainers": "clusterstoragecontainer/",
}
STORAGE_URI = "https://models.invalid/bench/classifier_uint8.tflite"
# The kinds KServe's children and their controllers write, for the idle window's write count.
WATCHED = frozenset(probes.WATCHED | {"inferenceservices", "ingresses", "horizontalpodautoscalers"})
# Children and settings the manager reads with GET (its cached client reads through informers;
# its plain clientset GETs the inferenceservice-config ConfigMap and ServiceAccounts).
KSERVE_GETS = frozenset({"configmaps", "serviceaccounts", "secrets", "deployments", "services"})


def build() -> Path:
    """hack/build-kserve.sh: the module's directory copy (src/) and bin/manager, cached."""
    out = subprocess.run(
        ["bash", str(REPO / "hack" / "build-kserve.sh")], check=True, stdout=subprocess.PIPE, text=True
    ).stdout
    return Path(out.strip().splitlines()[-1])


def version(root: Path) -> str:
    return root.name.split("-")[1]  # kserve-v0.20.0-KEY


# --- install -----------------------------------------------------------------------------


def install_crds(cluster: LocalCluster, kube: Any, root: Path) -> None:
    crd_dir = root / "src" / "config" / "crd" / "full"
    files = [str(crd_dir / f"{folder}{GROUP}_{name}.yaml") for name, folder in CRDS.items()]
    cluster.kubectl("apply", "--server-side", "--force-conflicts", *(arg for f in files for arg in ("-f", f)))

    def established(name: str) -> bool:
        crd = kube.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}.{GROUP}") or {}
        conds = (crd.get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Established" and c.get("status") == "True" for c in conds)

    for name in CRDS:  # a poll: `kubectl wait` fails on a CRD whose status is not yet written
        wait_until(
            lambda name=name: established(name), what=f"CRD {name} Established", timeout=60, interval=0.2
        )


def storage_container(root: Path) -> dict[str, Any]:
    """The install's ClusterStorageContainer `default` (config/storagecontainers): the
    storage-initializer for gs/s3/https URIs, with the image its kustomization sets."""
    doc = dict(yaml.safe_load((root / "src" / "config" / "storagecontainers" / "default.yaml").read_text()))
    doc["spec"]["container"]["image"] = "kserve/storage-initializer:latest"
    return doc


def config_map(root: Path) -> dict[str, Any]:
    """The install's inferenceservice-config, with RawDeployment as the default mode and Istio's
    VirtualServices off (as the manager's own warning Event asks where Istio is absent)."""
    import json

    doc = yaml.safe_load((root / "src" / "config" / "configmap" / "inferenceservice.yaml").read_text())
    doc["data"]["deploy"] = '{"defaultDeploymentMode": "RawDeployment"}'
    ingress = json.loads(doc["data"]["ingress"])
    ingress["disableIstioVirtualHost"] = True
    doc["data"]["ingress"] = json.dumps(ingress)
    doc["metadata"] = {"name": "inferenceservice-config", "namespace": SYSTEM_NAMESPACE}
    return dict(doc)


def install_config(kube: Any, root: Path) -> None:
    kube.request("POST", "/api/v1/namespaces", body={"metadata": {"name": SYSTEM_NAMESPACE}})
    kube.request("POST", f"/api/v1/namespaces/{SYSTEM_NAMESPACE}/configmaps", body=config_map(root))
    kube.request(
        "POST", "/apis/serving.kserve.io/v1alpha1/clusterstoragecontainers", body=storage_container(root)
    )


def self_signed(cert_dir: Path) -> bytes:
    """tls.crt/tls.key for 127.0.0.1 where controller-runtime looks (TMPDIR/k8s-webhook-server/
    serving-certs); returns the PEM certificate, which is also the webhooks' caBundle."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kserve-webhook-bench")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_dir.mkdir(parents=True, exist_ok=True)
    (cert_dir / "tls.crt").write_bytes(pem)
    (cert_dir / "tls.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return pem


def register_webhooks(kube: Any, root: Path, port: int, ca: bytes) -> int:
    """The install's webhook configurations (config/webhook/manifests.yaml), each pointed at the
    manager's loopback port instead of its in-cluster Service. Returns how many."""
    import base64

    bundle = base64.b64encode(ca).decode()
    docs = [
        d
        for d in yaml.safe_load_all((root / "src" / "config" / "webhook" / "manifests.yaml").read_text())
        if d
    ]
    for doc in docs:
        doc["metadata"].pop("creationTimestamp", None)
        for hook in doc["webhooks"]:
            path = hook["clientConfig"]["service"]["path"]
            hook["clientConfig"] = {"url": f"https://127.0.0.1:{port}{path}", "caBundle": bundle}
        plural = doc["kind"].lower() + "s"
        kube.request("POST", f"/apis/admissionregistration.k8s.io/v1/{plural}", body=doc)
    return len(docs)


def runtime_manifest() -> dict[str, Any]:
    return {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "ClusterServingRuntime",
        "metadata": {"name": RUNTIME},
        "spec": {
            "supportedModelFormats": [{"name": "tflite", "version": "2", "autoSelect": True}],
            "protocolVersions": ["v2"],
            "containers": [
                {
                    "name": "kserve-container",
                    "image": "registry.invalid/kserve-tflite:bench",
                    "args": ["--model_name={{.Name}}", "--model_dir=/mnt/models", "--http_port=8080"],
                    "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
                }
            ],
        },
    }


# --- the manager -------------------------------------------------------------------------


def _die_with_parent() -> None:
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def start(
    cluster: LocalCluster, kube: Any, workdir: Path, root: Path
) -> tuple[subprocess.Popen[bytes], Path, str, dict[str, Any]]:
    """CRDs, ConfigMap, the manager, its webhooks and the runtime; returns once it serves."""
    install_crds(cluster, kube, root)
    install_config(kube, root)
    metrics_port, probe_port, webhook_port = free_ports(3)
    tmp = workdir / "kserve-tmp"
    ca = self_signed(tmp / "k8s-webhook-server" / "serving-certs")
    log_path = workdir / "kserve-manager.log"
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig),
        "POD_NAMESPACE": SYSTEM_NAMESPACE,
        "TMPDIR": str(tmp),  # controller-runtime's default webhook cert dir is under it
    }
    argv = [
        str(root / "bin" / "manager"),
        f"--metrics-addr=127.0.0.1:{metrics_port}",
        f"--health-probe-addr=127.0.0.1:{probe_port}",
        f"--webhook-port={webhook_port}",
        "--leader-elect=false",
    ]
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"KServe's manager exited {proc.returncode}: {log_path.read_text()[-3000:]}")
        with urllib.request.urlopen(f"http://127.0.0.1:{probe_port}/readyz", timeout=2) as resp:
            return bool(resp.status == 200)

    wait_until(ready, what="KServe's manager /readyz", timeout=90, interval=0.3)
    hooks = register_webhooks(kube, root, webhook_port, ca)
    # Through the ClusterServingRuntime validator: proves the apiserver reaches the webhooks.
    wait_until(
        lambda: kube.request(
            "POST", "/apis/serving.kserve.io/v1alpha1/clusterservingruntimes", body=runtime_manifest()
        ),
        what="the ClusterServingRuntime (through KServe's webhook)",
        timeout=30,
        interval=0.5,
    )
    warm_up(kube)
    extra = {"peer": "kserve", "kserve_version": version(root), "webhook_configurations": hooks}
    return proc, log_path, f"http://127.0.0.1:{metrics_port}/metrics", extra


# --- the burst ---------------------------------------------------------------------------


def service_manifest(index: int, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": KIND,
        "metadata": {
            "name": f"svc-{index:04d}",
            "namespace": namespace,
            "annotations": {
                "serving.kserve.io/deploymentMode": "RawDeployment",
                "serving.kserve.io/autoscalerClass": "none",
            },
            "labels": {"networking.kserve.io/visibility": "cluster-local"},
        },
        "spec": {
            "predictor": {
                "minReplicas": 1,
                "maxReplicas": 1,
                "model": {
                    "modelFormat": {"name": "tflite"},
                    "protocolVersion": "v2",  # the runtime's (our server's) protocol: Open Inference
                    "storageUri": STORAGE_URI,
                    "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
                },
            }
        },
    }


def warm_up(kube: Any) -> None:
    """One InferenceService in a namespace of its own, until Ready.

    Why: the manager starts most informers on first use (ClusterServingRuntimes among them),
    so its very first reconciles fail with "no runtime found" until that cache syncs. Our
    operator's path is warm before its burst (the ModelPackage is Ready first); this is the
    same for KServe's, and the burst then measures a running controller.
    """
    kube.request("POST", "/api/v1/namespaces", body={"metadata": {"name": WARM_UP_NAMESPACE}})
    obj = service_manifest(0, WARM_UP_NAMESPACE)
    path = f"/apis/{API}/namespaces/{WARM_UP_NAMESPACE}/inferenceservices/{obj['metadata']['name']}"

    def ready() -> bool:
        conds = ((kube.get(path) or {}).get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)

    def create() -> bool:  # the ServiceAccount admission needs may lag the namespace
        if kube.get(path):
            return True
        kube.request("POST", f"/apis/{API}/namespaces/{WARM_UP_NAMESPACE}/inferenceservices", body=obj)
        return True

    wait_until(create, what="the warm-up InferenceService created", timeout=30, interval=0.3)
    wait_until(ready, what="the warm-up InferenceService Ready", timeout=60, interval=0.3)


def counters(metrics_url: str) -> dict[str, float]:
    """The manager's own counts: InferenceService reconciles and its client-go requests by method."""
    with urllib.request.urlopen(metrics_url, timeout=5) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        key = None
        if line.startswith("controller_runtime_reconcile_total{") and 'controller="inferenceservice"' in line:
            key = "passes"
        elif line.startswith("rest_client_requests_total{"):
            key = dict(probes._LABEL.findall(line.rpartition("} ")[0])).get("method", "?")
        if key:
            out[key] = out.get(key, 0.0) + float(line.rsplit(" ", 1)[-1])
    return out


def is_kserve(key: probes.Key) -> bool:
    """Rows only KServe's manager makes here (the counterpart of probes.is_operator).

    It reads through informers (cluster-scoped LIST/WATCH at start), GETs its ConfigMap,
    ServiceAccounts and Secrets with its plain clientset, creates Deployments and Services
    (POST; the built-in controllers never create either), updates them (PUT on the objects;
    the deployment controller's own PUTs are on deployments/status, but it also stamps a
    revision annotation with a PUT, so PUT deployments is an upper bound), updates
    InferenceService status and finalizers. The benchmark applies InferenceServices (APPLY)
    and watches them in their namespace (namespace-scoped WATCH). Events are counted by
    reporter instead.
    """
    if key.group == GROUP:
        return key.verb != "APPLY" and not (key.verb == "WATCH" and key.scope == "namespace")
    if key.verb == "GET":
        return key.resource in KSERVE_GETS
    if key.resource in ("deployments", "services") and not key.subresource:
        return key.verb in ("POST", "PUT", "PATCH", "DELETE")
    return key.resource in ("ingresses", "horizontalpodautoscalers") and key.verb in probes.WRITE_VERBS


def share(counts: Counter[probes.Key]) -> Counter[probes.Key]:
    return Counter({k: v for k, v in counts.items() if is_kserve(k)})
