"""Model package directories: an MLflow-style `MLmodel` manifest with a `tflite` flavor.

The format (docs/package-format.md) is what ModelPackage versions hold, so the
server, the fetcher and the operator read one definition of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .columns import Column, check_columns, parse_column
from .errors import INVALID_PACKAGE, TENSOR_MISMATCH, ModelLoadError
from .runtime.tensors import TensorSpec

MANIFEST = "MLmodel"
# Default largest difference, per element, between the self-test's answer and output_example.
OUTPUT_TOLERANCE = 1e-3


@dataclass(frozen=True)
class SignatureTensor:
    name: str | None
    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Package:
    root: Path
    model_path: Path
    label_path: Path | None = None
    num_threads: int = 1
    version: str = ""
    time_created: str = ""
    description: str = ""
    # Each side of the signature is tensor-based or column-based (MLflow allows no mix).
    inputs: list[SignatureTensor] = field(default_factory=list)
    outputs: list[SignatureTensor] = field(default_factory=list)
    input_columns: list[Column] = field(default_factory=list)
    output_columns: list[Column] = field(default_factory=list)
    input_example: Path | None = None
    # The MLflow scoring field an example file fills when it is not a scoring body itself
    # (a DataFrame example, as MLflow saves one: `dataframe_split` or `dataframe_records`).
    input_example_field: str | None = None
    output_example: Path | None = None  # what the model answers input_example, to compare
    output_tolerance: float = OUTPUT_TOLERANCE


def read_package(root: Path) -> Package:
    """Parse DIR/MLmodel; ModelLoadError names the missing or wrong field."""
    doc = _manifest(root)
    flavor = (doc.get("flavors") or {}).get("tflite")
    if not isinstance(flavor, dict) or not flavor.get("model_path"):
        raise ModelLoadError(f"{root / MANIFEST}: needs flavors.tflite.model_path", INVALID_PACKAGE)
    threads = flavor.get("num_threads", 1)
    if not isinstance(threads, int) or threads < 1:
        raise ModelLoadError(
            f"{root / MANIFEST}: flavors.tflite.num_threads must be an integer >= 1", INVALID_PACKAGE
        )
    signature = doc.get("signature") or {}
    inputs, input_columns = _signature(signature.get("inputs"), root, "signature.inputs")
    outputs, output_columns = _signature(signature.get("outputs"), root, "signature.outputs")
    return Package(
        root=root,
        model_path=_inside(root, flavor["model_path"], "flavors.tflite.model_path"),
        label_path=_inside(root, flavor["label_path"], "flavors.tflite.label_path")
        if flavor.get("label_path")
        else None,
        num_threads=threads,
        version=str(doc.get("version", "") or ""),
        time_created=str(doc.get("time_created", doc.get("utc_time_created", "")) or ""),
        description=str(doc.get("description", "") or ""),
        inputs=inputs,
        outputs=outputs,
        input_columns=input_columns,
        output_columns=output_columns,
        input_example=_example(root, doc),
        input_example_field=_example_field(doc),
        **_output_example(root, doc),
    )


def model_package(root: Path, model: Path) -> Package | None:
    """The package a model file was unpacked with, when its manifest describes that file.

    Why: a pod serves `--model ${packages.x}/model.tflite` (the service's attributes), so
    the package's signature and examples would be lost; a manifest describing another file
    of the package (one of several models) says nothing about this one.
    """
    if not (root / MANIFEST).is_file():
        return None
    package = read_package(root)
    return package if package.model_path == model.resolve() else None


def _manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelLoadError(
            f"cannot read package manifest {path}: {exc.strerror or exc}", INVALID_PACKAGE
        ) from exc
    except yaml.YAMLError as exc:
        raise ModelLoadError(f"package manifest {path} is not valid YAML: {exc}", INVALID_PACKAGE) from exc
    if not isinstance(doc, dict):
        raise ModelLoadError(f"package manifest {path} must be a YAML mapping", INVALID_PACKAGE)
    return doc


def _inside(root: Path, relative: str, field_name: str) -> Path:
    """Resolve a manifest path, refusing anything that escapes the package."""
    path = (root / str(relative)).resolve()
    if not path.is_relative_to(root.resolve()):
        raise ModelLoadError(
            f"{root / MANIFEST}: {field_name} '{relative}' points outside the package", INVALID_PACKAGE
        )
    return path


def _signature(raw: Any, root: Path, field_name: str) -> tuple[list[SignatureTensor], list[Column]]:
    """MLflow keeps each side of the signature as a JSON string: tensor specs or column specs."""
    if raw is None:
        return [], []
    try:
        specs = json.loads(raw) if isinstance(raw, str) else raw
        if all(_is_tensor(s) for s in specs):
            return [_tensor_spec(s) for s in specs], []
        if not any(_is_tensor(s) for s in specs):
            return [], [parse_column(s) for s in specs]
        raise ValueError("tensor and column specs are mixed")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelLoadError(
            f"{root / MANIFEST}: {field_name} is not a list of tensor specs or column specs ({exc})",
            INVALID_PACKAGE,
        ) from exc


def _is_tensor(spec: dict[str, Any]) -> bool:
    return spec.get("type") == "tensor" or "tensor-spec" in spec


def _tensor_spec(spec: dict[str, Any]) -> SignatureTensor:
    return SignatureTensor(
        spec.get("name"), spec["tensor-spec"]["dtype"], tuple(spec["tensor-spec"]["shape"])
    )


def _example(root: Path, doc: dict[str, Any]) -> Path | None:
    info = doc.get("saved_input_example_info") or {}
    relative = doc.get("input_example") or (info.get("artifact_path") if isinstance(info, dict) else None)
    return _inside(root, relative, "input_example") if relative else None


def _example_field(doc: dict[str, Any]) -> str | None:
    """MLflow saves a DataFrame example in pandas' split orient unless it says otherwise."""
    info = doc.get("saved_input_example_info")
    if not isinstance(info, dict) or info.get("type") != "dataframe":
        return None
    return f"dataframe_{info.get('pandas_orient') or 'split'}"


def _output_example(root: Path, doc: dict[str, Any]) -> dict[str, Any]:
    """`output_example: FILE`, or `{artifact_path: FILE, tolerance: T}`."""
    raw = doc.get("output_example")
    if raw is None:
        return {}
    spec = {"artifact_path": raw} if isinstance(raw, str) else raw
    tolerance = spec.get("tolerance", OUTPUT_TOLERANCE) if isinstance(spec, dict) else None
    if not isinstance(spec, dict) or not isinstance(spec.get("artifact_path"), str):
        raise ModelLoadError(f"{root / MANIFEST}: output_example needs an artifact_path", INVALID_PACKAGE)
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not tolerance >= 0:
        raise ModelLoadError(
            f"{root / MANIFEST}: output_example.tolerance must be a number >= 0", INVALID_PACKAGE
        )
    if _example(root, doc) is None:
        raise ModelLoadError(
            f"{root / MANIFEST}: output_example needs an input_example to answer", INVALID_PACKAGE
        )
    path = _inside(root, spec["artifact_path"], "output_example")
    return {"output_example": path, "output_tolerance": float(tolerance)}


def check_signature(package: Package, inputs: list[TensorSpec], outputs: list[TensorSpec]) -> None:
    """A manifest whose signature disagrees with the model is refused at load."""
    for side, columns, actual in (
        ("inputs", package.input_columns, inputs),
        ("outputs", package.output_columns, outputs),
    ):
        if columns:
            check_columns(columns, actual, side)
    for side, declared, actual in (("inputs", package.inputs, inputs), ("outputs", package.outputs, outputs)):
        if declared and len(declared) != len(actual):
            raise ModelLoadError(
                f"signature.{side} lists {len(declared)} tensors but the model has {len(actual)}",
                TENSOR_MISMATCH,
            )
        for want, spec in zip(declared, actual, strict=False):
            if want.dtype != spec.dtype.name or not _shapes_agree(want.shape, spec.shape_signature):
                raise ModelLoadError(
                    f"signature.{side} tensor {want.name or spec.name!r} is {want.dtype}{list(want.shape)}"
                    f" but the model's is {spec.dtype.name}{list(spec.shape_signature)}",
                    TENSOR_MISMATCH,
                )


def _shapes_agree(declared: tuple[int, ...], actual: tuple[int, ...]) -> bool:
    return len(declared) == len(actual) and all(
        d < 0 or a < 0 or d == a for d, a in zip(declared, actual, strict=True)
    )
