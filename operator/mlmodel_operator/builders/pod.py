"""The inference pod template: one `mlmodel fetch` init container per package,
then `mlmodel serve` reading the fetched files (docs/architecture.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mlmodel_operator.builders import common, security
from mlmodel_operator.builders.candidate import CANDIDATE, STABLE, CandidatePods, Slot, candidate_args
from mlmodel_operator.config import Termination
from mlmodel_operator.packages import (
    ResolvedPackage,
    ca_config_map,
    package_dir,
    package_file,
    safe_name,
    substitute,
)

VISION_DIR = "/etc/mlmodel"
VISION_FILE = "vision.json"
# Not below VISION_DIR: that is a ConfigMap volume, and a mount point cannot be created
# inside a read-only volume.
AUTH_DIR = "/etc/mlmodel-auth"
AUTH_FILE = "token"
AUTH_VOLUME = "auth-token"
DEFAULT_AUTH_KEY = "token"
# A URL's CA bundle lands at CA_ROOT/<ConfigMap>/<key>: fetch's TLS errors name that path,
# and so the ConfigMap and key.
CA_ROOT = "/etc/mlmodel-ca"


@dataclass(frozen=True)
class ServingInputs:
    """Everything a serving pod depends on besides the owner's pod knobs."""

    owner: dict[str, Any]  # the MLModelService or VisionService being reconciled
    component: str  # "mlmodel" or "vision"
    model_name: str  # the MLModelService name, `mlmodel serve --name`
    attributes: dict[str, Any]  # the MLModelService's spec.attributes
    packages: tuple[ResolvedPackage, ...]
    image: str
    image_pull_policy: str = "IfNotPresent"
    fetch_max_bytes: int = 2 << 30
    vision_config: str | None = None  # JSON text of the vision attributes
    termination: Termination = field(default_factory=Termination)
    candidate: CandidatePods | None = None  # a canary's version, loaded beside the stable one

    @property
    def spec(self) -> dict[str, Any]:
        return dict(self.owner.get("spec") or {})


def _source_volume(pkg: ResolvedPackage, slot: Slot = STABLE) -> dict[str, Any] | None:
    """ConfigMap and PVC sources are mounted read-only; URLs need no volume."""
    name = slot.named("src", pkg.name)
    if "configMap" in pkg.source:
        cm = pkg.source["configMap"]
        items = [{"key": cm["key"], "path": cm["key"]}]
        return {"name": name, "configMap": {"name": cm["name"], "items": items}}
    if "persistentVolumeClaim" in pkg.source:
        claim = pkg.source["persistentVolumeClaim"]["claimName"]
        return {"name": name, "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}
    return None


def _ca_volume(pkg: ResolvedPackage, slot: Slot = STABLE) -> dict[str, Any] | None:
    """A URL's private CA (`source.caConfigMap`): that one key, for its init container only."""
    ca = ca_config_map(pkg.source)
    if ca is None:
        return None
    items = [{"key": ca["key"], "path": ca["key"]}]
    return {"name": slot.named("ca", pkg.name), "configMap": {"name": ca["name"], "items": items}}


def _fetch_source_args(pkg: ResolvedPackage, slot: Slot = STABLE) -> list[str]:
    src_dir = slot.sources(pkg.name)
    if "configMap" in pkg.source:
        return ["--file", f"{src_dir}/{pkg.source['configMap']['key']}"]
    if "persistentVolumeClaim" in pkg.source:
        path = pkg.source["persistentVolumeClaim"]["path"].lstrip("/")
        return ["--file", f"{src_dir}/{path}"]
    args = ["--url", pkg.source["url"]]
    if pkg.source.get("allowInsecureHttp"):
        # The ModelPackage opted in explicitly (CRD: `source.allowInsecureHttp`).
        args.append("--allow-insecure-http")
    ca = ca_config_map(pkg.source)
    if ca is not None:
        args += ["--ca-file", f"{CA_ROOT}/{ca['name']}/{ca['key']}"]
    return args


def fetch_container(pkg: ResolvedPackage, inputs: ServingInputs, slot: Slot = STABLE) -> dict[str, Any]:
    """`mlmodel fetch` for one package; its termination message carries the summary."""
    args = ["fetch", *_fetch_source_args(pkg, slot)]
    if pkg.sha256:
        args += ["--sha256", pkg.sha256]
    args += [
        "--dest",
        slot.models(pkg.name),
        "--max-bytes",
        str(inputs.fetch_max_bytes),
        "--summary-to",
        "/dev/termination-log",
    ]
    model = package_file(str(inputs.attributes.get("model_path", "")))
    if model is not None and model[0] == pkg.name:
        args += ["--model", model[1]]  # refused unless the package holds it and it is TFLite
    mounts: list[dict[str, Any]] = [{"name": slot.named("pkg", pkg.name), "mountPath": slot.models(pkg.name)}]
    if _source_volume(pkg, slot) is not None:
        mounts.append(
            {"name": slot.named("src", pkg.name), "mountPath": slot.sources(pkg.name), "readOnly": True}
        )
    ca = ca_config_map(pkg.source)
    if ca is not None:
        mounts.append(
            {"name": slot.named("ca", pkg.name), "mountPath": f"{CA_ROOT}/{ca['name']}", "readOnly": True}
        )
    return {
        "name": slot.named("fetch", pkg.name),
        "image": inputs.image,
        "imagePullPolicy": inputs.image_pull_policy,
        "args": args,
        "volumeMounts": [*mounts, {"name": "tmp", "mountPath": "/tmp"}],
        "securityContext": security.container_security_context(),
        "terminationMessagePolicy": "File",
    }


def serve_args(inputs: ServingInputs) -> list[str]:
    """`mlmodel serve` flags: the seeds' attributes with package paths substituted."""
    attrs, known = inputs.attributes, {p.name for p in inputs.packages}
    args = ["serve", "--model", substitute(attrs["model_path"], known)]
    model = package_file(str(attrs["model_path"]))
    if model is not None and model[0] in known:
        # The package's MLmodel (if it describes this file) gives the self-test its examples.
        args += ["--package-root", package_dir(model[0])]
    if attrs.get("label_path"):
        args += ["--labels", substitute(attrs["label_path"], known)]
    args += [
        "--num-threads",
        str(int(attrs.get("num_threads", 1))),
        "--name",
        inputs.model_name,
        "--host",
        "0.0.0.0",
        "--port",
        str(common.HTTP_PORT),
        "--grpc-port",
        str(common.GRPC_PORT),
        "--shutdown-timeout",
        str(inputs.termination.shutdown_timeout),
    ]
    if inputs.vision_config is not None:
        args += [
            "--vision-config",
            f"{VISION_DIR}/{VISION_FILE}",
            "--vision-name",
            inputs.owner["metadata"]["name"],
        ]
    if auth_secret(inputs.spec) is not None:
        args += ["--auth-token-file", f"{AUTH_DIR}/{AUTH_FILE}"]
    if inputs.candidate is not None:
        args += candidate_args(inputs.candidate, attrs, known)
    return args + batching_args(inputs.spec) + [str(a) for a in inputs.spec.get("args") or []]


def batching_args(spec: dict[str, Any]) -> list[str]:
    """`spec.batching` as the server's flags (an MLModelService's; none without it)."""
    batching = spec.get("batching")
    if not batching:
        return []
    delay = float(batching.get("maxBatchDelayMs", 0)) / 1000
    return ["--max-batch-size", str(int(batching["maxBatchSize"])), "--max-batch-delay", f"{delay:g}"]


def auth_secret(spec: dict[str, Any]) -> dict[str, str] | None:
    """`spec.auth` with its default key, or None when authentication is off (the default)."""
    auth = spec.get("auth") or {}
    if not auth.get("secretName"):
        return None
    return {"secretName": str(auth["secretName"]), "key": str(auth.get("key") or DEFAULT_AUTH_KEY)}


def _auth_volume(secret: dict[str, str]) -> dict[str, Any]:
    """Only the one key, under a fixed file name, readable by the server's group (fsGroup).

    Selecting the key with `items` keeps the flag constant whatever the key is called, and
    keeps any other keys of the Secret out of the pod. No subPath: the kubelet then
    updates the file in place when the Secret changes, and the server re-reads it.
    """
    items = [{"key": secret["key"], "path": AUTH_FILE}]
    return {
        "name": AUTH_VOLUME,
        "secret": {"secretName": secret["secretName"], "items": items, "defaultMode": 0o440},
    }


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "failureThreshold": failures,
        "timeoutSeconds": 2,
    }


def server_container(inputs: ServingInputs) -> dict[str, Any]:
    mounts = [
        {"name": f"pkg-{safe_name(p.name)}", "mountPath": package_dir(p.name), "readOnly": True}
        for p in inputs.packages
    ]
    if inputs.candidate is not None:
        name = inputs.candidate.package.name
        mounts.append(
            {"name": CANDIDATE.named("pkg", name), "mountPath": CANDIDATE.models(name), "readOnly": True}
        )
    mounts.append({"name": "tmp", "mountPath": "/tmp"})
    if inputs.vision_config is not None:
        mounts.append({"name": "vision-config", "mountPath": VISION_DIR, "readOnly": True})
    if auth_secret(inputs.spec) is not None:
        mounts.append({"name": AUTH_VOLUME, "mountPath": AUTH_DIR, "readOnly": True})
    container: dict[str, Any] = {
        "name": "server",
        "image": inputs.spec.get("image") or inputs.image,
        "imagePullPolicy": inputs.image_pull_policy,
        "args": serve_args(inputs),
        "ports": [
            {"name": "http", "containerPort": common.HTTP_PORT, "protocol": "TCP"},
            {"name": "grpc", "containerPort": common.GRPC_PORT, "protocol": "TCP"},
        ],
        # Startup waits for the model to load; then readiness gates traffic.
        # Every second while starting: Ready (and the first answer) follows the load closely.
        "startupProbe": _probe("/v2/health/ready", 1, 300),
        "readinessProbe": _probe("/v2/health/ready", 5, 3),
        "livenessProbe": _probe("/v2/health/live", 10, 3),
        # Before SIGTERM: every kube-proxy drops the pod from the Service meanwhile.
        "lifecycle": {"preStop": {"sleep": {"seconds": inputs.termination.prestop_seconds}}},
        "volumeMounts": mounts,
        "securityContext": security.container_security_context(),
        # A model that cannot serve: the server writes {reason, error} to the termination
        # log; any other exit leaves the log's tail (its last line is the error). Either
        # becomes the Degraded reason (status/workload.py). An env var, not a flag, so a
        # `spec.image` older than it still starts.
        "env": [{"name": "MLMODEL_TERMINATION_LOG", "value": "/dev/termination-log"}],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if inputs.spec.get("resources"):
        container["resources"] = inputs.spec["resources"]
    return container


def volumes(inputs: ServingInputs) -> list[dict[str, Any]]:
    vols: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    for pkg in inputs.packages:
        vols += _package_volumes(pkg, STABLE)
    if inputs.candidate is not None:
        vols += _package_volumes(inputs.candidate.package, CANDIDATE)
    if inputs.vision_config is not None:
        cm = common.child_name(inputs.owner["metadata"]["name"], inputs.component)
        vols.append({"name": "vision-config", "configMap": {"name": cm}})
    secret = auth_secret(inputs.spec)
    if secret is not None:
        vols.append(_auth_volume(secret))
    return vols


def _package_volumes(pkg: ResolvedPackage, slot: Slot) -> list[dict[str, Any]]:
    """The package's own directory, and its source and CA when they are mounted."""
    found = [_source_volume(pkg, slot), _ca_volume(pkg, slot)]
    return [{"name": slot.named("pkg", pkg.name), "emptyDir": {}}, *(v for v in found if v is not None)]


def packages_annotation(packages: tuple[ResolvedPackage, ...]) -> str:
    """What the pods run, pinned: a new `latest` changes it, a pin never does."""
    pinned = sorted(
        ({"name": p.name, "version": p.version, "sha256": p.sha256} for p in packages),
        key=lambda p: p["name"],
    )
    return json.dumps(pinned, separators=(",", ":"), sort_keys=True)


def pod_annotations(inputs: ServingInputs) -> dict[str, str]:
    notes = {common.ANNOTATION_PACKAGES: packages_annotation(inputs.packages)}
    if inputs.vision_config is not None:
        notes[common.ANNOTATION_VISION_CONFIG] = common.stable_hash(inputs.vision_config)
    if inputs.spec.get("restartedAt"):
        notes[common.ANNOTATION_RESTARTED_AT] = str(inputs.spec["restartedAt"])
    return notes


def _init_containers(inputs: ServingInputs) -> list[dict[str, Any]]:
    """A `mlmodel fetch` per package, and one more for a candidate version."""
    fetches = [fetch_container(p, inputs) for p in inputs.packages]
    if inputs.candidate is not None:
        fetches.append(fetch_container(inputs.candidate.package, inputs, CANDIDATE))
    return fetches


def pod_template(inputs: ServingInputs) -> dict[str, Any]:
    """The full template, stamped with a hash of itself so status can tell new pods from old."""
    spec, owner_name = inputs.spec, inputs.owner["metadata"]["name"]
    pod_spec: dict[str, Any] = {
        "securityContext": security.pod_security_context(),
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "initContainers": _init_containers(inputs),
        "containers": [server_container(inputs)],
        "volumes": volumes(inputs),
        "terminationGracePeriodSeconds": inputs.termination.grace_seconds,
    }
    for knob in ("nodeSelector", "tolerations", "affinity"):
        if spec.get(knob):
            pod_spec[knob] = spec[knob]
    template = {
        "metadata": {
            "labels": common.labels(owner_name, inputs.component),
            "annotations": pod_annotations(inputs),
        },
        "spec": pod_spec,
    }
    template["metadata"]["annotations"][common.ANNOTATION_TEMPLATE_HASH] = common.stable_hash(template)
    return template
