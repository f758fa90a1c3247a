"""Which tensor plays which part: the image input, the classifier's probabilities,
the detector's location/category/score/count. Names first (after remapping),
shapes second, as Viam's mlmodel vision service decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..runtime.tensors import TensorSpec

DETECTOR_ROLES = ("location", "category", "score", "count")


def _remapped(specs: Sequence[TensorSpec], remap: Mapping[str, str]) -> dict[str, TensorSpec]:
    return {remap.get(s.name, s.name): s for s in specs}


def image_input(inputs: Sequence[TensorSpec], remap: Mapping[str, str]) -> TensorSpec | None:
    """The tensor named `image` after remapping, else the only 4-D input."""
    named = _remapped(inputs, remap)
    if "image" in named:
        return named["image"]
    four_d = [s for s in inputs if len(s.shape) == 4]
    return four_d[0] if len(four_d) == 1 else None


def detector_roles(outputs: Sequence[TensorSpec], remap: Mapping[str, str]) -> dict[str, str] | None:
    """Map role → model tensor name, or None when the outputs are not a detector's."""
    named = _remapped(outputs, remap)
    roles = {r: named[r].name for r in DETECTOR_ROLES if r in named}
    if "location" in roles and "score" in roles:
        return roles
    return _roles_by_shape(outputs)


def _roles_by_shape(outputs: Sequence[TensorSpec]) -> dict[str, str] | None:
    roles: dict[str, str] = {}
    for spec in outputs:
        rank = len(spec.shape)
        if rank == 3 and spec.shape[-1] == 4 and "location" not in roles:
            roles["location"] = spec.name
        elif rank == 1 and "count" not in roles:
            roles["count"] = spec.name
        elif rank == 2 and spec.dtype.kind in "iu" and "category" not in roles:
            roles["category"] = spec.name
        elif rank == 2 and "score" not in roles:
            roles.setdefault("score", spec.name)
        elif rank == 2 and "category" not in roles:
            # TFLite_Detection_PostProcess emits float classes: first 2-D is classes.
            roles["category"], roles["score"] = roles["score"], spec.name
        elif rank == 3 and "score" not in roles:
            roles["score"] = spec.name
    return roles if "location" in roles and "score" in roles else None


def classifier_output(outputs: Sequence[TensorSpec], remap: Mapping[str, str]) -> TensorSpec | None:
    """The `probability` tensor, else the only output, if it looks like [1, K] or [K]."""
    named = _remapped(outputs, remap)
    spec = named.get("probability") or (outputs[0] if len(outputs) == 1 else None)
    if spec is None or len(spec.shape) > 2 or (len(spec.shape) == 2 and spec.shape[0] != 1):
        return None
    return spec


def model_kind(inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]) -> str:
    """classifier | detector | other, as the metadata endpoint reports."""
    if image_input(inputs, {}) is None:
        return "other"
    if detector_roles(outputs, {}) is not None:
        return "detector"
    if classifier_output(outputs, {}) is not None:
        return "classifier"
    return "other"
