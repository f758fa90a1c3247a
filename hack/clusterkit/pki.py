"""Certificates and kubeconfigs of the local control plane.

Made with the openssl CLI: it ships with the OS, so the cluster needs no Python crypto
dependency. All keys are EC, which are fast to generate.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import yaml

from . import metrics
from .common import NODE_IP, NODE_NAME, SERVICE_IP, ClusterError

# Client certificates: (file stem, CN, O). Components get their own identities so RBAC's
# bootstrap bindings apply; kwok writes status of arbitrary nodes and pods, so it is a master.
CLIENTS = (
    ("admin", "mlmodel-admin", "system:masters"),
    ("kube-controller-manager", "system:kube-controller-manager", ""),
    ("kube-scheduler", "system:kube-scheduler", ""),
    ("kwok", "kwok-controller", "system:masters"),
    # The real node (nodeconfig.py): the Node authorizer and NodeRestriction know a kubelet by
    # this name and group; kube-proxy has a bootstrap binding (system:node-proxier).
    ("kubelet", f"system:node:{NODE_NAME}", "system:nodes"),
    ("kube-proxy", "system:kube-proxy", ""),
    # The apiserver's identity towards kubelets (logs, exec, port-forward).
    ("apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters"),
    # metrics-server (metrics.py): towards the apiserver and the kubelet; RBAC made at `up`.
    (metrics.NAME, metrics.USER, ""),
)
CLIENT_EXT = ["keyUsage=critical,digitalSignature,keyEncipherment", "extendedKeyUsage=clientAuth"]
APISERVER_SANS = ["IP:127.0.0.1", f"IP:{SERVICE_IP}", f"IP:{NODE_IP}", "DNS:localhost", "DNS:kubernetes",
                  "DNS:kubernetes.default", "DNS:kubernetes.default.svc",
                  "DNS:kubernetes.default.svc.cluster.local"]  # fmt: skip


def _openssl(*args: str) -> None:
    """Run the openssl CLI quietly; a failure becomes a ClusterError with its last stderr line."""
    proc = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        err = proc.stderr.strip().splitlines()
        raise ClusterError(f"openssl {args[0]} failed: {err[-1] if err else proc.returncode}")


def make_ca(pki: Path, stem: str = "ca") -> None:
    """Self-signed CA `stem` that signs serving and client certs."""
    _openssl(
        "req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:prime256v1", "-keyout", str(pki / f"{stem}.key"), "-out",
        str(pki / f"{stem}.crt"), "-days", "3650", "-subj", f"/CN=mlmodel-local-{stem}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
    )  # fmt: skip


def make_cert(pki: Path, stem: str, subject: str, extensions: list[str], ca: str = "ca") -> None:
    """Key + certificate `stem` signed by CA `ca`; `extensions` are openssl extfile lines."""
    key, csr, crt = (pki / f"{stem}.{ext}" for ext in ("key", "csr", "crt"))
    extfile = pki / f"{stem}.ext"
    extfile.write_text("\n".join(["basicConstraints=critical,CA:FALSE", *extensions]) + "\n")
    _openssl(
        "req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-keyout", str(key), "-out", str(csr), "-subj", subject,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(pki / f"{ca}.crt"), "-CAkey",
        str(pki / f"{ca}.key"), "-CAcreateserial", "-CAserial", str(pki / f"{ca}.srl"), "-out",
        str(crt), "-days", "3650", "-extfile", str(extfile),
    )  # fmt: skip
    csr.unlink()
    extfile.unlink()


def make_pki(pki: Path) -> None:
    """Everything the apiserver needs: CA, serving cert, SA signing keys, client certs."""
    pki.mkdir(parents=True, exist_ok=True)
    make_ca(pki)
    make_cert(
        pki, "apiserver", "/CN=kube-apiserver",
        ["keyUsage=critical,digitalSignature,keyEncipherment", "extendedKeyUsage=serverAuth",
         "subjectAltName=" + ",".join(APISERVER_SANS)],
    )  # fmt: skip
    for stem, cn, org in CLIENTS:
        make_cert(pki, stem, (f"/O={org}" if org else "") + f"/CN={cn}", CLIENT_EXT)
    # The kubelet's serving certificate, signed by the cluster CA so the apiserver verifies it.
    make_cert(
        pki, "kubelet-serving", f"/O=system:nodes/CN=system:node:{NODE_NAME}",
        ["keyUsage=critical,digitalSignature,keyEncipherment", "extendedKeyUsage=serverAuth",
         f"subjectAltName=IP:{NODE_IP},DNS:{NODE_NAME}"],
    )  # fmt: skip
    # metrics-server's, for the apiserver that proxies metrics.k8s.io to it (its APIService).
    make_cert(
        pki, f"{metrics.NAME}-serving", f"/CN={metrics.SERVICE_DNS}",
        ["keyUsage=critical,digitalSignature,keyEncipherment", "extendedKeyUsage=serverAuth",
         "subjectAltName=" + ",".join(metrics.serving_sans())],
    )  # fmt: skip
    # Front proxy (aggregation layer): a CA of its own, else any client cert could assert
    # identities through request headers. Without it every component logs CA-bundle errors.
    make_ca(pki, "front-proxy-ca")
    make_cert(pki, "front-proxy-client", "/CN=front-proxy-client", CLIENT_EXT, "front-proxy-ca")
    # Service-account token signing pair (ES256): apiserver signs/verifies, KCM signs legacy.
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", str(pki / "sa.key"))  # fmt: skip
    _openssl("pkey", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub"))


def kubeconfig_for(server: str, pki: Path, stem: str) -> dict[str, Any]:
    """Kubeconfig with embedded CA and client cert so it works from any cwd or copy."""

    def b64(name: str) -> str:
        return base64.b64encode((pki / name).read_bytes()).decode()

    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "mlmodel-local", "cluster": {
            "server": server, "certificate-authority-data": b64("ca.crt")}}],
        "users": [{"name": stem, "user": {
            "client-certificate-data": b64(f"{stem}.crt"), "client-key-data": b64(f"{stem}.key")}}],
        "contexts": [{"name": "mlmodel-local", "context": {"cluster": "mlmodel-local",
                                                          "user": stem}}],
        "current-context": "mlmodel-local",
    }  # fmt: skip


def write_kubeconfigs(server: str, pki: Path, admin: Path, components: Path) -> None:
    """One kubeconfig per client identity: `admin` for people, `components`/<stem> for the rest.

    They hold private keys, hence mode 0600.
    """
    for stem, _, _ in CLIENTS:
        config = kubeconfig_for(server, pki, stem)
        target = admin if stem == "admin" else components / stem
        target.write_text(yaml.safe_dump(config, sort_keys=False))
        target.chmod(0o600)
