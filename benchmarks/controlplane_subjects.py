"""What the control-plane benchmark measures: our operator, or a peer controller (`Subject`).

Why a type for it: a run (controlplane_cluster.py, controlplane_measure.py) measures any
controller the same way, so that a peer's numbers compare with ours; what differs between
them is all here: how the controller is installed and started, the objects applied, the kind
watched for Ready, its own request counters, which apiserver rows are its own, the kinds whose
writes the idle window counts and the reporter of its Events.

* `OURS`: the CRDs, a namespace enforcing PSS `restricted`, one ModelPackage whose only
  version is a ConfigMap holding tests/fixtures/models/classifier_uint8.tflite with its real
  sha256, and the operator as tests/cluster/operator_fixtures.py starts it (`python -m
  mlmodel_operator --standalone`, admin kubeconfig) but with the production resync interval;
  its own counts come from its Prometheus metrics.
* `kserve_subject()`: KServe's controller (benchmarks/peers/kserve_controller.py), built from
  its Go module on first use, serving InferenceServices in RawDeployment mode.

`Options` lives here as well, at the bottom of the benchmark's modules, because a subject's
`start` reads it (the operator's environment).
"""

from __future__ import annotations

import base64
import hashlib
import re
import signal
import subprocess
import sys
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "hack"))

import controlplane_probes as probes  # noqa: E402
from localcluster import LocalCluster, free_ports, operator_env, wait_until  # noqa: E402
from mlmodel_operator.events import COMPONENT as EVENT_REPORTER  # noqa: E402
from mlmodel_operator.k8s.client import Kube, collection_path, object_path  # noqa: E402

GROUP, API = "mlmodel.dev", "mlmodel.dev/v1alpha1"
NAMESPACE = "cp-bench"
PACKAGE = "bench-model"
MODEL = REPO / "tests" / "fixtures" / "models" / "classifier_uint8.tflite"
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}


@dataclass(frozen=True)
class Options:
    sizes: tuple[int, ...]
    idle_seconds: float
    settle_seconds: float
    ready_timeout: float
    apply_workers: int
    operator_env: dict[str, str]
    tag: str
    keep: bool
    quiet_cores: float = 0.5
    quiet_wait: float = 45.0
    replot: bool = False
    peer: str = ""  # "": our operator; "kserve": KServe's controller (benchmarks/peers/)


@dataclass(frozen=True)
class Subject:
    """What a run measures: our operator, or a peer controller serving its own kind.

    Everything a run needs to tell about the controller under test: how to install and start
    it (`start`, returns the process, its log, its metrics URL and facts for the report), the
    objects applied, the kind watched for Ready, its own request counters, which apiserver rows
    are its own (`share`), the kinds whose writes the idle window counts, its Events' reporter.
    """

    name: str
    start: Callable[
        [LocalCluster, Kube, Path, Options], tuple[subprocess.Popen[bytes], Path, str, dict[str, Any]]
    ]
    manifest: Callable[[int], dict[str, Any]]
    api: str  # group/version of the served kind
    plural: str  # its resource name
    counters: Callable[[str], dict[str, float]]
    share: Callable[[Counter[probes.Key]], Counter[probes.Key]]
    watched: frozenset[str]
    event_reporter: str

    def path(self, name: str | None = None) -> str:
        collection = f"/apis/{self.api}/namespaces/{NAMESPACE}/{self.plural}"
        return collection if name is None else f"{collection}/{name}"


def condition(obj: dict[str, Any] | None, type_: str) -> str:
    conds = ((obj or {}).get("status") or {}).get("conditions") or []
    return next((c.get("status", "") for c in conds if c.get("type") == type_), "")


# --- our operator ----------------------------------------------------------------------------


def prepare_cluster(cluster: LocalCluster, kube: Kube) -> None:
    """CRDs, the namespace (PSS restricted) and its default ServiceAccount."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    for crd in ("modelpackages", "mlmodelservices", "visionservices"):
        cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{crd}.{GROUP}")
    make_namespace(kube, RESTRICTED)


def make_namespace(kube: Kube, labels: dict[str, str]) -> None:
    kube.request("POST", "/api/v1/namespaces", body={"metadata": {"name": NAMESPACE, "labels": labels}})
    # Until the default ServiceAccount exists, admission rejects every pod of the namespace.
    sa = f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/default"
    wait_until(lambda: kube.get(sa), what="the default ServiceAccount", timeout=30, interval=0.2)


def seed_package(kube: Kube) -> None:
    """One ModelPackage version from a ConfigMap: verified from real bytes, no network."""
    data = MODEL.read_bytes()
    kube.request(
        "POST",
        collection_path("v1", "ConfigMap", NAMESPACE),
        body={"metadata": {"name": PACKAGE}, "binaryData": {"model.tflite": base64.b64encode(data).decode()}},
    )
    version = {
        "version": "v1",
        "latest": True,
        "sha256": hashlib.sha256(data).hexdigest(),
        "source": {"configMap": {"name": PACKAGE, "key": "model.tflite"}},
    }
    kube.request(
        "POST",
        collection_path(API, "ModelPackage", NAMESPACE),
        body={
            "apiVersion": API,
            "kind": "ModelPackage",
            "metadata": {"name": PACKAGE},
            "spec": {"versions": [version]},
        },
    )


def _die_with_parent() -> None:
    """In the operator before exec: SIGKILL it if the benchmark dies without cleaning up."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def start_operator(
    cluster: LocalCluster,
    workdir: Path,
    extra_env: dict[str, str],
) -> tuple[subprocess.Popen[bytes], Path, str]:
    port, metrics_port = free_ports(2)
    log_path = workdir / "operator.log"
    env = {
        **operator_env(cluster.kubeconfig, "registry.invalid/mlmodel:bench", port, metrics_port),
        **extra_env,
    }
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlmodel_operator", "--standalone"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )

    def healthy() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"operator exited {proc.returncode}: {log_path.read_text()[-2000:]}")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return bool(resp.status == 200)

    wait_until(healthy, what="the operator's liveness endpoint", timeout=60)
    return proc, log_path, f"http://127.0.0.1:{metrics_port}/metrics"


def operator_source() -> dict[str, str]:
    """Which operator was measured: the commit and a digest of operator/ as it is on disk."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "operator" / "mlmodel_operator").rglob("*.py")):
        digest.update(path.relative_to(REPO).as_posix().encode() + b"\0" + path.read_bytes())
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {"commit": head, "operator_tree_sha256": digest.hexdigest()[:16]}


def start_ours(
    cluster: LocalCluster, kube: Kube, workdir: Path, opts: Options
) -> tuple[subprocess.Popen[bytes], Path, str, dict[str, Any]]:
    """CRDs, namespace, the package verified, the operator running."""
    prepare_cluster(cluster, kube)
    seed_package(kube)
    source = operator_source()  # the operator may change between runs of one session
    proc, log_path, metrics_url = start_operator(cluster, workdir, opts.operator_env)
    package = object_path(API, "ModelPackage", NAMESPACE, PACKAGE)
    wait_until(
        lambda: condition(kube.get(package), "Ready") == "True",
        what="the ModelPackage Ready",
        timeout=60,
        interval=0.2,
    )
    return proc, log_path, metrics_url, {"operator_source": source}


def operator_counters(metrics_url: str) -> dict[str, float]:
    """The operator's own counts (its Prometheus metrics): MLModelService reconcile passes,
    and API requests by method. Exact where the apiserver's metrics can only be attributed."""
    with urllib.request.urlopen(metrics_url, timeout=5) as resp:
        text = resp.read().decode()
    out: Counter[str] = Counter()
    for line in text.splitlines():
        if line.startswith("mlmodel_operator_reconcile_total{") and 'kind="MLModelService"' in line:
            out["passes"] += float(line.rsplit(" ", 1)[-1])
        elif found := re.match(r'mlmodel_operator_api_requests_total\{.*method="([^"]+)".*\} (\S+)$', line):
            out[found.group(1)] += float(found.group(2))
    return dict(out)


def service_manifest(index: int) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "MLModelService",
        "metadata": {"name": f"svc-{index:04d}", "namespace": NAMESPACE},
        "spec": {
            "attributes": {"model_path": "${packages.classifier}/model.tflite", "num_threads": 1},
            "packages": [{"name": "classifier", "package": PACKAGE, "version": "latest"}],
            "replicas": 1,
            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
        },
    }


ALL = frozenset(probes.WATCHED | {"mlmodelservices"})


OURS = Subject(
    name="mlmodel-operator",
    start=start_ours,
    manifest=service_manifest,
    api=API,
    plural="mlmodelservices",
    counters=operator_counters,
    share=probes.operator_share,
    watched=ALL,
    event_reporter=EVENT_REPORTER,
)


# --- KServe's controller ---------------------------------------------------------------------


def kserve_subject() -> Subject:
    """KServe's controller (benchmarks/peers/kserve_controller.py), built on first use."""
    sys.path.insert(0, str(REPO / "benchmarks" / "peers"))
    import kserve_controller as peer

    root = peer.build()

    def start(
        cluster: LocalCluster, kube: Kube, workdir: Path, opts: Options
    ) -> tuple[subprocess.Popen[bytes], Path, str, dict[str, Any]]:
        # No PSS label: KServe's pods (its storage-initializer included) set no restricted
        # securityContext, and admission would reject every one.
        make_namespace(kube, {})
        wait_until(
            lambda: kube.get(f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/default"),
            what="the default ServiceAccount",
            timeout=30,
            interval=0.2,
        )
        return peer.start(cluster, kube, workdir, root)

    return Subject(
        name=f"kserve-controller {peer.version(root)}",
        start=start,
        manifest=lambda index: peer.service_manifest(index, NAMESPACE),
        api=peer.API,
        plural="inferenceservices",
        counters=peer.counters,
        share=peer.share,
        watched=peer.WATCHED,
        event_reporter=peer.EVENT_REPORTER,
    )
