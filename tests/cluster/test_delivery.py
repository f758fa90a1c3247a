"""Delivery: the Helm chart, manifests/install.yaml and GitOps, against the real apiserver.

The pinned `helm` and `kubectl` (hack/build-k8s.sh, found through the cluster's bin_dir) lint,
render, install, upgrade and uninstall the chart on the local control plane; kwok turns the
operator's pod Ready without running it, so these tests prove what the API server decides
(schema, Pod Security `restricted` admission, RBAC) and leave the operator's behaviour to
test_operator.py. RBAC is checked with `kubectl auth can-i --as=system:serviceaccount:...`.
The GitOps test runs the real operator (operator_fixtures.py) on the examples applied with
server-side apply as field manager "argocd", then asks the API server for a diff.

Order matters a little: the Helm tests come first so that, in a fresh session, `helm install`
is what creates the CRDs from the chart's crds/ (the operator fixtures apply crds/ later).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from operator_fixtures import OperatorProcess
from tests.support.namespaces import delete_namespace

from localcluster import LocalCluster, free_ports, stop_process, wait_until
from mlmodel_operator.k8s.client import Kube

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "mlmodel-operator"
INSTALL = REPO / "manifests" / "install.yaml"
EXAMPLES = REPO / "manifests" / "examples"
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "mlmodel.dev/test-namespace": "true",
}
MLMODEL_CRDS = ("modelpackages", "mlmodelservices", "visionservices")
TIMEOUT = 90


# --- tools ------------------------------------------------------------------------------


class Tools:
    """The Go-built helm and kubectl bound to the session's cluster, with private helm dirs."""

    def __init__(self, cluster: LocalCluster, home: Path) -> None:
        self.cluster = cluster
        self.env = {
            **os.environ,
            "KUBECONFIG": str(cluster.kubeconfig),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }

    def run(self, tool: str, *args: str, input: str | None = None, check: bool = True) -> Any:
        cmd = [str(self.cluster.bin_dir / tool), *args]
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, env=self.env, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"{tool} {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
        return proc

    def helm(self, *args: str, check: bool = True) -> Any:
        return self.run("helm", *args, check=check)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> Any:
        return self.run("kubectl", *args, input=input, check=check)

    def get(self, *args: str) -> dict[str, Any]:
        return dict(json.loads(self.kubectl("get", "-o", "json", *args).stdout))

    def can_i(self, subject: str, verb: str, resource: str, namespace: str | None) -> bool:
        """`kubectl auth can-i` as `subject`; namespace None: cluster-wide (all namespaces)."""
        resource, _, sub = resource.partition("/")
        args = ["auth", "can-i", verb, resource, f"--as={subject}"]
        args += [f"--subresource={sub}"] if sub else []
        args += ["-n", namespace] if namespace else ["--all-namespaces"]
        proc = self.kubectl(*args, check=False)
        answer = proc.stdout.strip()
        assert answer in ("yes", "no"), f"kubectl {' '.join(args)}: {proc.stdout}{proc.stderr}"
        return answer == "yes"


@pytest.fixture(scope="module")
def tools(local_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Tools:
    return Tools(local_cluster, tmp_path_factory.mktemp("helm"))


@pytest.fixture
def extra_namespaces(kube: Kube) -> Iterator[list[str]]:
    """Two more `restricted` namespaces for the watched-namespaces mode, deleted afterwards."""
    names = [f"t-watched-{i}-{secrets.token_hex(3)}" for i in (1, 2)]
    for name in names:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": RESTRICTED}}
        kube.request("POST", "/api/v1/namespaces", body=body)
    yield names
    for name in names:
        delete_namespace(kube, name)


def release_name() -> str:
    return f"mlm-{secrets.token_hex(3)}"


@pytest.fixture
def release(tools: Tools, namespace: str) -> Iterator[str]:
    """A release name in `namespace`; uninstalled afterwards even if the test failed midway
    (its ClusterRole and ClusterRoleBinding would outlive the namespace)."""
    name = release_name()
    yield name
    tools.helm("uninstall", name, "-n", namespace, "--ignore-not-found", check=False)


def sa_subject(namespace: str, release: str) -> str:
    return f"system:serviceaccount:{namespace}:{release}-mlmodel-operator"


# --- what the operator may and may not do -------------------------------------------------

# (verb, resource[/subresource]) the operator uses in every namespace it watches: kopf watches
# the kinds and patches their finalizer, the reconciles read them and merge-patch /status,
# server-side apply creates and patches children, pods are read for status, kopf posts events;
# owner references with blockOwnerDeletion need update on the owner's finalizers. The one delete
# is of a NetworkPolicy whose owner turned spec.networkPolicy off.
MUST_IN_WATCHED = [
    ("get", "mlmodelservices.mlmodel.dev"),
    ("list", "modelpackages.mlmodel.dev"),
    ("watch", "visionservices.mlmodel.dev"),
    ("patch", "mlmodelservices.mlmodel.dev"),
    ("patch", "mlmodelservices.mlmodel.dev/status"),
    ("patch", "visionservices.mlmodel.dev/status"),
    ("patch", "modelpackages.mlmodel.dev/status"),
    ("update", "visionservices.mlmodel.dev/finalizers"),
    ("create", "deployments.apps"),
    ("patch", "deployments.apps"),
    ("watch", "deployments.apps"),
    ("create", "services"),
    ("create", "networkpolicies.networking.k8s.io"),
    ("patch", "networkpolicies.networking.k8s.io"),
    ("delete", "networkpolicies.networking.k8s.io"),
    ("patch", "configmaps"),
    ("get", "configmaps"),
    ("list", "pods"),
    ("watch", "pods"),
    ("create", "events"),
]
MUST_NOT_IN_WATCHED = [
    ("get", "secrets"),
    ("list", "secrets"),
    ("create", "pods"),
    ("create", "pods/exec"),
    ("patch", "pods"),
    ("delete", "deployments.apps"),
    ("delete", "services"),
    ("delete", "configmaps"),
    ("update", "networkpolicies.networking.k8s.io"),
    ("create", "mlmodelservices.mlmodel.dev"),
    ("update", "mlmodelservices.mlmodel.dev"),
    ("delete", "modelpackages.mlmodel.dev"),
    ("create", "serviceaccounts/token"),
    ("create", "rolebindings.rbac.authorization.k8s.io"),
    ("create", "persistentvolumeclaims"),
]
MUST_CLUSTER = [
    ("list", "customresourcedefinitions.apiextensions.k8s.io"),
    ("watch", "customresourcedefinitions.apiextensions.k8s.io"),
]
MUST_NOT_CLUSTER = [
    ("create", "clusterroles.rbac.authorization.k8s.io"),
    ("bind", "clusterroles.rbac.authorization.k8s.io"),
    ("escalate", "clusterroles.rbac.authorization.k8s.io"),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
    ("delete", "nodes"),
    ("impersonate", "users"),
    ("create", "customresourcedefinitions.apiextensions.k8s.io"),
    ("patch", "customresourcedefinitions.apiextensions.k8s.io"),
    ("get", "secrets"),
    ("create", "namespaces"),
]


def check_rbac(
    tools: Tools,
    subject: str,
    must: list[tuple[str, str, str | None]],
    must_not: list[tuple[str, str, str | None]],
) -> None:
    """Every `must` allowed and every `must_not` denied (kubectl runs a few at a time)."""
    checks = [(True, *c) for c in must] + [(False, *c) for c in must_not]
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda c: tools.can_i(subject, *c[1:]), checks))
    wrong = [
        f"{'cannot' if allowed else 'CAN'} {verb} {resource} in {ns or 'all namespaces'}"
        for (allowed, verb, resource, ns), answer in zip(checks, answers, strict=True)
        if answer != allowed
    ]
    assert not wrong, f"{subject}:\n" + "\n".join(wrong)


# --- chart and generated files --------------------------------------------------------------


def test_generated_files_are_current(tools: Tools) -> None:
    """The chart's CRDs are copies of crds/ and install.yaml is the rendered chart."""
    for src in sorted((REPO / "crds").glob("*.yaml")):
        copy = CHART / "crds" / src.name
        assert not copy.is_symlink() and copy.read_bytes() == src.read_bytes(), (
            f"{copy} differs from {src}: run python3 hack/gen-install.py"
        )
    assert sorted(p.name for p in (CHART / "crds").iterdir()) == sorted(
        p.name for p in (REPO / "crds").glob("*.yaml")
    )
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "hack" / "gen-install.py"),
            "--check",
            "--helm",
            str(tools.cluster.bin_dir / "helm"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_helm_lint(tools: Tools) -> None:
    tools.helm("lint", "--strict", str(CHART))
    tools.helm("lint", "--strict", str(CHART), "--set", "watchNamespaces={a,b}", "--set", "peering.name=p")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("watchNamespace=a", "additional properties 'watchNamespace' not allowed"),
        ("watchNamespaces={Team_A}", "does not match pattern"),
        ("operator.livenessPort=0", "livenessPort"),
        ("image.pullPolicy=Sometimes", "pullPolicy"),
    ],
)
def test_values_schema_refuses_bad_values(tools: Tools, value: str, message: str) -> None:
    proc = tools.helm("template", "x", str(CHART), "--set", value, check=False)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


# --- helm install / upgrade / uninstall -----------------------------------------------------


def operator_deployment(tools: Tools, namespace: str, release: str) -> dict[str, Any]:
    return tools.get("deployment", f"{release}-mlmodel-operator", "-n", namespace)


def assert_available(deployment: dict[str, Any]) -> None:
    conditions = {c["type"]: c["status"] for c in deployment.get("status", {}).get("conditions", [])}
    assert conditions.get("Available") == "True", deployment.get("status")
    assert deployment["status"].get("availableReplicas") == 1


def env_of(deployment: dict[str, Any]) -> dict[str, str]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def test_helm_install_upgrade_uninstall_watching_all_namespaces(
    tools: Tools, namespace: str, release: str
) -> None:
    chart = str(CHART)
    crds = [f"{crd}.mlmodel.dev" for crd in MLMODEL_CRDS]
    listed = tools.kubectl("get", "crd", *crds, "--ignore-not-found", "-o", "name").stdout.split()
    existed = {name.rpartition("/")[2] for name in listed}
    out = tools.helm("install", release, chart, "-n", namespace, "--wait", "--timeout", f"{TIMEOUT}s").stdout
    assert f"rollout status deployment/{release}-mlmodel-operator" in out  # NOTES.txt
    for crd in set(crds) - existed:  # a fresh cluster: Helm created them from the chart's crds/
        fields = tools.get("crd", crd, "--show-managed-fields")["metadata"]["managedFields"]
        assert {m["manager"] for m in fields if not m.get("subresource")} == {"helm"}, fields

    deployment = operator_deployment(tools, namespace, release)
    assert_available(deployment)
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    assert container["image"] == f"mlmodel-operator:{app_version}" and container["args"] == ["operator"]
    env = env_of(deployment)
    assert env["MLMODEL_OPERATOR_IMAGE"] == container["image"]  # inference pods: the same image
    assert "MLMODEL_OPERATOR_NAMESPACES" not in env and env["MLMODEL_OPERATOR_PEERING"] == "standalone"
    probe = container["livenessProbe"]["httpGet"]
    assert probe["path"] == "/healthz" and probe["port"] == "healthz"
    ready = container["readinessProbe"]["httpGet"]
    assert ready["path"] == "/readyz" and ready["port"] == "metrics"
    assert container["ports"] == [
        {"name": "healthz", "containerPort": int(env["MLMODEL_OPERATOR_LIVENESS_PORT"]), "protocol": "TCP"},
        {"name": "metrics", "containerPort": int(env["MLMODEL_OPERATOR_METRICS_PORT"]), "protocol": "TCP"},
    ]
    assert container["resources"]["requests"] and container["resources"]["limits"]
    ctx, pod_ctx = container["securityContext"], pod["securityContext"]
    assert ctx["runAsNonRoot"] and ctx["runAsUser"] == 65532 and ctx["readOnlyRootFilesystem"]
    assert ctx["allowPrivilegeEscalation"] is False and ctx["capabilities"] == {"drop": ["ALL"]}
    assert ctx["seccompProfile"] == pod_ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    # The operator's and the activator's pods were admitted by a namespace enforcing `restricted`.
    pods = tools.get("pods", "-n", namespace, "-l", f"app.kubernetes.io/instance={release}")["items"]
    component = "app.kubernetes.io/component"
    roles = sorted((p["metadata"]["labels"][component], p["status"]["phase"]) for p in pods)
    assert roles == [("activator", "Running"), ("operator", "Running")]

    subject, other = sa_subject(namespace, release), "default"
    check_rbac(
        tools,
        subject,
        must=[(v, r, ns) for v, r in MUST_IN_WATCHED for ns in (namespace, other)]
        + [(v, r, None) for v, r in [*MUST_CLUSTER, ("list", "mlmodelservices.mlmodel.dev")]]
        + [("watch", "deployments.apps", None), ("watch", "pods", None)],
        must_not=[(v, r, namespace) for v, r in MUST_NOT_IN_WATCHED]
        + [(v, r, None) for v, r in MUST_NOT_CLUSTER]
        + [("list", "namespaces", None), ("patch", "clusterkopfpeerings.kopf.dev", None)],
    )

    tools.helm(
        "upgrade", release, chart, "-n", namespace, "--wait", "--timeout", f"{TIMEOUT}s",
        "--set", "image.repository=registry.example.com/mlmodel-operator", "--set", "image.tag=0.1.1",
        "--set", "operator.logLevel=DEBUG",
    )  # fmt: skip
    deployment = operator_deployment(tools, namespace, release)
    assert_available(deployment)
    assert deployment["metadata"]["generation"] == 2
    env = env_of(deployment)
    assert env["MLMODEL_OPERATOR_IMAGE"] == "registry.example.com/mlmodel-operator:0.1.1"
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == env["MLMODEL_OPERATOR_IMAGE"]
    assert env["MLMODEL_OPERATOR_LOG_LEVEL"] == "DEBUG"
    history = json.loads(tools.helm("history", release, "-n", namespace, "-o", "json").stdout)
    assert [h["status"] for h in history] == ["superseded", "deployed"]

    tools.helm("uninstall", release, "-n", namespace, "--wait", "--timeout", f"{TIMEOUT}s")
    for kind, ns in (("deployment", namespace), ("serviceaccount", namespace), ("clusterrole", None),
                     ("clusterrolebinding", None)):  # fmt: skip
        args = ["get", kind, f"{release}-mlmodel-operator", "--ignore-not-found", "-o", "name"]
        assert tools.kubectl(*args, *(["-n", ns] if ns else [])).stdout == "", f"{kind} left behind"
    assert not tools.can_i(subject, "create", "deployments.apps", namespace)
    for crd in MLMODEL_CRDS:  # Helm never deletes CRDs (that would delete every user object)
        tools.kubectl("get", f"crd/{crd}.mlmodel.dev")


def test_helm_install_watching_a_list_of_namespaces(
    tools: Tools, namespace: str, release: str, extra_namespaces: list[str]
) -> None:
    w1, w2 = extra_namespaces
    tools.helm(
        "install", release, str(CHART), "-n", namespace, "--wait", "--timeout", f"{TIMEOUT}s",
        "--set", f"watchNamespaces={{{w1},{w2}}}", "--set", "peering.name=mlmodel",
        "--set", "peering.priority=10",
    )  # fmt: skip
    deployment = operator_deployment(tools, namespace, release)
    assert_available(deployment)
    env = env_of(deployment)
    assert env["MLMODEL_OPERATOR_NAMESPACES"] == f"{w1},{w2}"
    assert env["MLMODEL_OPERATOR_PEERING"] == "mlmodel" and env["MLMODEL_OPERATOR_PRIORITY"] == "10"
    for ns in (w1, w2):
        tools.kubectl("get", "role,rolebinding", f"{release}-mlmodel-operator", "-n", ns)
        tools.kubectl("get", "kopfpeering.kopf.dev/mlmodel", "-n", ns)

    subject = sa_subject(namespace, release)
    check_rbac(
        tools,
        subject,
        must=[(v, r, ns) for v, r in MUST_IN_WATCHED for ns in (w1, w2)]
        + [(v, r, None) for v, r in MUST_CLUSTER]
        + [("list", "namespaces", None), ("watch", "namespaces", None)]
        + [(v, "kopfpeerings.kopf.dev", w1) for v in ("get", "list", "watch", "patch")],
        # Nothing in a namespace it does not watch, its own included, nor cluster-wide.
        must_not=[(v, r, ns) for v, r in MUST_IN_WATCHED for ns in (namespace, "default")]
        + [(v, r, w1) for v, r in MUST_NOT_IN_WATCHED]
        + [(v, r, None) for v, r in MUST_NOT_CLUSTER]
        + [("list", "mlmodelservices.mlmodel.dev", None), ("watch", "pods", None)]
        + [("patch", "clusterkopfpeerings.kopf.dev", None)],
    )

    tools.helm("upgrade", release, str(CHART), "-n", namespace, "--wait", "--reuse-values",
               "--set", f"watchNamespaces={{{w1}}}")  # fmt: skip
    assert env_of(operator_deployment(tools, namespace, release))["MLMODEL_OPERATOR_NAMESPACES"] == w1
    assert not tools.can_i(subject, "create", "deployments.apps", w2)  # its Role went with it
    assert tools.can_i(subject, "create", "deployments.apps", w1)
    tools.helm("uninstall", release, "-n", namespace, "--wait")
    assert not tools.can_i(subject, "create", "deployments.apps", w1)
    assert tools.kubectl("get", "kopfpeerings.kopf.dev", "-n", w1, "-o", "name").stdout == ""


@pytest.mark.parametrize("mode", ["all-namespaces", "watched-namespaces"])
def test_rendered_chart_is_accepted_by_the_apiserver(
    tools: Tools,
    mlmodel_crds: LocalCluster,  # the kopf peering CRDs, for the peering objects
    namespace: str,
    mode: str,
) -> None:
    """`helm template` output passes a server-side dry run, with no Pod Security warning."""
    args = ["template", release_name(), str(CHART), "-n", namespace, "--set", "peering.name=mlmodel"]
    if mode == "watched-namespaces":
        args += ["--set", f"watchNamespaces={{{namespace}}}"]
    rendered = tools.helm(*args).stdout
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(rendered) if d)
    proc = tools.kubectl("apply", "--dry-run=server", "-f", "-", input=rendered)
    assert proc.stdout.count("(server dry run)") == len(kinds), proc.stdout
    assert "PodSecurity" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr
    if mode == "all-namespaces":
        assert "Role" not in kinds and "ClusterKopfPeering" in kinds
    else:
        assert {"Role", "RoleBinding", "KopfPeering"} <= set(kinds)


# --- kubectl apply -f manifests/install.yaml --------------------------------------------------


def test_install_yaml_applies_and_stays_in_sync(tools: Tools) -> None:
    """install.yaml (and the kustomization around it) applies as is, the operator becomes
    Available in its `restricted` namespace, and a re-apply would change nothing."""
    docs = [d for d in yaml.safe_load_all(INSTALL.read_text()) if d]
    assert docs[0]["kind"] == "Namespace"
    ns = docs[0]["metadata"]["name"]
    assert docs[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    kustomized = [d for d in yaml.safe_load_all(tools.kubectl("kustomize", str(INSTALL.parent)).stdout) if d]
    key = lambda d: (d["kind"], d["metadata"]["name"])  # noqa: E731
    assert sorted(kustomized, key=key) == sorted(docs, key=key)
    try:
        proc = tools.kubectl("apply", "--server-side", "-k", str(INSTALL.parent))
        assert "Warning" not in proc.stderr, proc.stderr
        tools.kubectl("rollout", "status", "deployment/mlmodel-operator", "-n", ns, f"--timeout={TIMEOUT}s")
        assert_available(tools.get("deployment", "mlmodel-operator", "-n", ns))
        for args in (["-f", str(INSTALL)], ["-k", str(INSTALL.parent)]):
            diff = tools.kubectl("diff", "--server-side", *args, check=False)
            assert diff.returncode == 0, diff.stdout + diff.stderr
        sa = "system:serviceaccount:mlmodel-system:mlmodel-operator"
        assert tools.can_i(sa, "create", "deployments.apps", "default")
        assert not tools.can_i(sa, "get", "secrets", ns)
    finally:  # everything but the CRDs, which the rest of the session uses
        tools.kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found")
        tools.kubectl("delete", "clusterrole,clusterrolebinding", "mlmodel-operator", "--ignore-not-found")


# --- the real operator with exactly the chart's permissions -------------------------------


def sa_kubeconfig(cluster: LocalCluster, token: str, path: Path) -> Path:
    """The admin kubeconfig's cluster (server, CA) with a ServiceAccount token as the user."""
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    (entry,) = admin["clusters"]
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [entry],
                "users": [{"name": "sa", "user": {"token": token}}],
                "contexts": [{"name": "sa", "context": {"cluster": entry["name"], "user": "sa"}}],
                "current-context": "sa",
            }
        )
    )
    return path


def wait_ready(tools: Tools, namespace: str, objects: list[tuple[str, str]], op: OperatorProcess) -> None:
    def ready(kind: str, name: str) -> bool:
        status = tools.get(f"{kind.lower()}.mlmodel.dev", name, "-n", namespace).get("status") or {}
        return any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])

    for kind, name in objects:
        wait_until(lambda k=kind, n=name: ready(k, n), what=f"{kind}/{name} Ready", timeout=TIMEOUT,
                   check=op.check_alive)  # fmt: skip


def example_objects() -> list[tuple[str, str]]:
    """(kind, name) of every mlmodel.dev object in manifests/examples/."""
    return [
        (d["kind"], d["metadata"]["name"])
        for path in sorted(EXAMPLES.glob("*.yaml"))
        for d in yaml.safe_load_all(path.read_text())
        if d and d["apiVersion"].startswith("mlmodel.dev/")
    ]


def test_operator_runs_with_exactly_the_charts_permissions(
    tools: Tools, namespace: str, release: str, extra_namespaces: list[str], tmp_path: Path
) -> None:
    """`kubectl auth can-i` checks the rules we wrote down; this checks they are enough. The
    real operator, authenticated with a token of the chart's ServiceAccount (watched-namespaces
    mode, the narrower one), reconciles every example to Ready without one permission error."""
    watched = extra_namespaces[0]
    tools.helm("install", release, str(CHART), "-n", namespace, "--wait", "--timeout", f"{TIMEOUT}s",
               "--set", f"watchNamespaces={{{watched}}}")  # fmt: skip
    token = tools.kubectl("create", "token", f"{release}-mlmodel-operator", "-n", namespace).stdout.strip()
    env = env_of(operator_deployment(tools, namespace, release))  # the chart's settings...
    port, metrics_port = free_ports(2)
    env |= {  # ...except what only makes sense outside a pod
        "KUBECONFIG": str(sa_kubeconfig(tools.cluster, token, tmp_path / "kubeconfig")),
        "PYTHONPATH": os.pathsep.join([str(REPO / "operator"), str(REPO / "server")]),
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/"),
        "MLMODEL_OPERATOR_LIVENESS_PORT": str(port),
        "MLMODEL_OPERATOR_METRICS_PORT": str(metrics_port),
        "MLMODEL_OPERATOR_RESYNC_SECONDS": "2",
    }
    log = tmp_path / "operator.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlmodel_operator"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    urls = f"http://127.0.0.1:{port}/healthz", f"http://127.0.0.1:{metrics_port}/metrics"
    op = OperatorProcess(proc, log, tmp_path / "no-clock", *urls)
    try:
        wait_until(op.healthy, what="the operator's liveness endpoint", timeout=60, check=op.check_alive)
        tools.kubectl("apply", "--server-side", "-n", watched, "-f", str(EXAMPLES))
        wait_ready(tools, watched, example_objects(), op)
        # Deletion works too: kopf removes its finalizer, so the objects go away.
        tools.kubectl("delete", "-n", watched, "-f", str(EXAMPLES), "--wait", f"--timeout={TIMEOUT}s")
        op.check_alive()
    finally:
        stop_process(proc)
    text = log.read_text()
    denied = [
        line for line in text.splitlines() if "Forbidden" in line or "forbidden" in line or " 403" in line
    ]
    assert not denied, "\n".join(line[:400] for line in denied[:5])
    assert "Not enough permissions" not in text, text[-3000:]


# --- GitOps: the operator never makes the examples drift ----------------------------------


def test_gitops_examples_stay_in_sync_after_the_operator_reconciles(
    tools: Tools,
    namespace: str,
    mlmodel_operator: OperatorProcess,
) -> None:
    """Apply the examples as Argo CD would (server-side apply, field manager "argocd"), let the
    operator make everything Ready, then the API server's own diff is empty: the operator wrote
    status, finalizers and children, never spec, and the schema filled the defaults in."""
    manager = ["--server-side", "--field-manager=argocd", "-n", namespace, "-f", str(EXAMPLES)]
    tools.kubectl("apply", *manager)
    objects = example_objects()
    assert {k for k, _ in objects} == {"ModelPackage", "MLModelService", "VisionService"}
    wait_ready(tools, namespace, objects, mlmodel_operator)

    def in_sync() -> Any:
        diff = tools.kubectl("diff", *manager, check=False)
        assert diff.returncode in (0, 1), diff.stderr  # 1: differences, >1: an error
        return diff.returncode == 0 or None

    try:  # a status write landing between diff's read and its dry run shows up once; retry
        wait_until(in_sync, what="an empty server-side diff", timeout=30, interval=2)
    except TimeoutError:
        pytest.fail("drift after reconcile:\n" + tools.kubectl("diff", *manager, check=False).stdout)

    for kind, name in objects:
        obj = tools.get(f"{kind.lower()}.mlmodel.dev", name, "-n", namespace, "--show-managed-fields")
        owners = {m["manager"]: m["fieldsV1"] for m in obj["metadata"]["managedFields"]}
        assert "f:spec" in owners["argocd"]
        assert [m for m, fields in owners.items() if m != "argocd" and "f:spec" in fields] == []
        assert obj["status"], f"{kind}/{name} has no status: the operator never wrote it"
