#!/usr/bin/env python3
"""Serves every fixture model with two images' `mlmodel serve` and compares their outputs.

    hack/image-compare.py IMAGE_A IMAGE_B [--models DIR] [--tolerance 1e-5] [--samples 4]

Used by hack/image-smoke-arm64.sh with the amd64 image as A and the arm64 image (under
qemu) as B. For each tests/fixtures/models/*.tflite, each image serves it in a buildah
working container (chroot isolation, host network, the image's ENTRYPOINT and user, the
model directory mounted read-only at /models) through hack/ctr-run.sh, as hack/image-smoke.sh
does (an arm64 image under qemu, with an Arm /proc/cpuinfo). Both servers get the same
inputs: for each input tensor of the model's OIP metadata, `--samples` arrays drawn from a
generator seeded by the model's name and the sample (FP32 uniform in [0, 1), UINT8 over
0..255, INT8 over -128..127, INT32 over -100..99); sample 0 is all zeros.
Outputs are asked for as binary tensors, so the comparison sees the exact bytes each image
computed. Prints, per model and output, the largest absolute difference, then the largest
over all models; exits 1 if one exceeds the tolerance or an output's name, datatype or
shape differs. Needs root (buildah) and numpy (it runs on the project's .venv).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DTYPES = {
    "FP32": np.float32,
    "FP64": np.float64,
    "UINT8": np.uint8,
    "INT8": np.int8,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
}


def buildah(*args: str) -> list[str]:
    driver = os.environ.get("STORAGE_DRIVER", "vfs")
    if driver == "vfs":
        return ["buildah", "--storage-driver", "vfs", *args]
    return [
        "buildah",
        "--storage-driver",
        driver,
        "--root",
        f"/var/lib/containers/storage-{driver}",
        "--runroot",
        f"/run/containers/storage-{driver}",
        *args,
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def descendants(root: int) -> dict[int, tuple[int, list[bytes]]]:
    """Depth below `root` and command line of every process below it."""
    parents: dict[int, int] = {}
    cmds: dict[int, list[bytes]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmds[int(entry)] = f.read().split(b"\0")
        except OSError:
            continue
    depth, grew = {root: 0}, True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in depth and pid not in depth:
                depth[pid] = depth[parent] + 1
                grew = True
    return {pid: (d, cmds[pid]) for pid, d in depth.items() if pid != root and pid in cmds}


class Server:
    """`mlmodel serve` of one model in a buildah working container."""

    def __init__(
        self, container: str, entrypoint: list[str], models: Path, model: str, timeout: float
    ) -> None:
        self.port = free_port()
        self.log = open(f"/tmp/image-compare-{os.getpid()}-{self.port}.log", "w+b")  # noqa: SIM115
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [
                str(ROOT / "hack" / "ctr-run.sh"),
                container,
                "-v",
                f"{models}:/models:ro",
                "--",
                *entrypoint,
                "serve",
                "--model",
                f"/models/{model}",
                "--name",
                "m",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--grpc-port",
                "0",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = t0 + timeout
        while True:
            try:
                status, _ = self.request("GET", "/v2/health/ready")
                if status == 200:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{model} never became ready:\n{self.output()}")
            time.sleep(0.05)
        self.ready_s = time.monotonic() - t0

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, http.client.HTTPResponse]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        response.read_body = response.read()  # type: ignore[attr-defined]
        conn.close()
        return response.status, response

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> None:
        """SIGTERM to the server process (its runner does not forward it), then wait."""
        if self.proc.poll() is None:
            # The deepest `... mlmodel serve ...`: the runners above it carry those words too.
            found = [
                (d, pid)
                for pid, (d, cmd) in descendants(self.proc.pid).items()
                if b"serve" in cmd and any(part.endswith(b"mlmodel") for part in cmd)
            ]
            if found:
                os.kill(max(found)[1], signal.SIGTERM)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                for pid in descendants(self.proc.pid):
                    os.kill(pid, signal.SIGKILL)
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        os.unlink(self.log.name)


def samples(model: str, metadata: dict, count: int) -> list[list[tuple[dict, np.ndarray]]]:
    out = []
    for k in range(count):
        rng = np.random.default_rng([zlib.crc32(model.encode()), k])
        tensors = []
        for spec in metadata["inputs"]:
            shape = [max(int(d), 1) for d in spec["shape"]]
            dtype = DTYPES[spec["datatype"]]
            if k == 0:
                array = np.zeros(shape, dtype)
            elif np.issubdtype(dtype, np.floating):
                array = rng.random(shape, dtype=np.float64).astype(dtype)
            else:
                low, high = {np.uint8: (0, 256), np.int8: (-128, 128)}.get(dtype, (-100, 100))
                array = rng.integers(low, high, size=shape).astype(dtype)
            tensors.append((spec, array))
        out.append(tensors)
    return out


def infer(server: Server, tensors: list[tuple[dict, np.ndarray]]) -> dict[str, tuple[str, list, np.ndarray]]:
    """One binary OIP request; returns {output name: (datatype, shape, array)}."""
    inputs, payload = [], b""
    for spec, array in tensors:
        chunk = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
        inputs.append(
            {
                "name": spec["name"],
                "datatype": spec["datatype"],
                "shape": list(array.shape),
                "parameters": {"binary_data_size": len(chunk)},
            }
        )
        payload += chunk
    header = json.dumps({"inputs": inputs, "parameters": {"binary_data_output": True}}).encode()
    status, response = server.request(
        "POST",
        "/v2/models/m/infer",
        header + payload,
        {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))},
    )
    body = response.read_body  # type: ignore[attr-defined]
    if status != 200:
        raise RuntimeError(f"infer: HTTP {status}: {body[:500]!r}")
    length = int(response.headers.get("Inference-Header-Content-Length", len(body)))
    doc, raw = json.loads(body[:length]), body[length:]
    outputs, offset = {}, 0
    for item in doc["outputs"]:
        dtype = np.dtype(DTYPES[item["datatype"]]).newbyteorder("<")
        if "data" in item:
            array = np.asarray(item["data"], dtype)
        else:
            size = int(item["parameters"]["binary_data_size"])
            array = np.frombuffer(raw[offset : offset + size], dtype)
            offset += size
        outputs[item["name"]] = (item["datatype"], list(item["shape"]), array.reshape(item["shape"]))
    return outputs


def run_image(image: str, models: Path, names: list[str], count: int, timeout: float, results: dict) -> None:
    name = f"mlmodel-compare-{os.getpid()}-{len(results)}"

    def inspect(fmt: str) -> str:
        return subprocess.run(
            buildah("inspect", "--type", "image", "--format", fmt, image),
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    arch = inspect("{{.OCIv1.Architecture}}").strip()
    entry = inspect("{{range .OCIv1.Config.Entrypoint}}{{println .}}{{end}}").split()
    subprocess.run(
        buildah("from", "--pull-never", "--arch", arch, "--name", name, image),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        per_model = {}
        for model in names:
            server = Server(name, entry, models, model, timeout)
            try:
                _, response = server.request("GET", "/v2/models/m")
                metadata = json.loads(response.read_body)  # type: ignore[attr-defined]
                t0 = time.monotonic()
                outs = [infer(server, tensors) for tensors in samples(model, metadata, count)]
                infer_s = (time.monotonic() - t0) / count
            finally:
                server.stop()
            per_model[model] = outs
            print(
                f"  {image} ({arch}): {model}: ready in {server.ready_s:.1f} s, "
                f"{count} inferences, {infer_s * 1000:.0f} ms each",
                flush=True,
            )
        results[image] = per_model
    finally:
        subprocess.run(buildah("rm", name), stdout=subprocess.DEVNULL, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("image_a")
    parser.add_argument("image_b")
    parser.add_argument("--models", type=Path, default=ROOT / "tests" / "fixtures" / "models")
    parser.add_argument("--tolerance", type=float, default=1e-5)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--ready-timeout", type=float, default=600.0)
    args = parser.parse_args()
    names = sorted(p.name for p in args.models.glob("*.tflite"))
    if not names:
        sys.exit(f"no .tflite models in {args.models}")
    results: dict = {}
    for image in (args.image_a, args.image_b):
        print(f"serving {len(names)} models with {image}", flush=True)
        run_image(image, args.models.resolve(), names, args.samples, args.ready_timeout, results)

    problems, worst, worst_at = [], 0.0, ""
    print(
        f"\nlargest absolute difference, {args.image_b} vs {args.image_a} ({args.samples} inputs per model):"
    )
    for model in names:
        per_out: dict[str, float] = {}
        scale: dict[str, float] = {}  # largest |value| of the output, for scale
        for k, (a, b) in enumerate(
            zip(results[args.image_a][model], results[args.image_b][model], strict=True)
        ):
            if a.keys() != b.keys():
                problems.append(f"{model}: outputs {sorted(a)} vs {sorted(b)}")
                continue
            for out, (dt_a, shape_a, arr_a) in a.items():
                dt_b, shape_b, arr_b = b[out]
                if (dt_a, shape_a) != (dt_b, shape_b):
                    problems.append(f"{model} {out}: {dt_a}{shape_a} vs {dt_b}{shape_b}")
                    continue
                diff = float(np.max(np.abs(arr_a.astype(np.float64) - arr_b.astype(np.float64)), initial=0.0))
                if not diff <= args.tolerance:  # NaN too
                    problems.append(f"{model} {out} input {k}: {diff:.3g} > {args.tolerance:g}")
                per_out[out] = max(per_out.get(out, 0.0), diff)
                scale[out] = max(
                    scale.get(out, 0.0), float(np.max(np.abs(arr_a.astype(np.float64)), initial=0.0))
                )
                if diff > worst or not worst_at:
                    worst, worst_at = diff, f"{model} {out} (input {k})"
        print(
            f"  {model:28s} "
            + ", ".join(f"{o} {d:.3g} (|values| up to {scale[o]:.3g})" for o, d in sorted(per_out.items()))
        )
    print(
        f"max abs difference over {len(names)} fixture models: {worst:.3g} at {worst_at} "
        f"(tolerance {args.tolerance:g})"
    )
    for p in problems:
        print("MISMATCH:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
