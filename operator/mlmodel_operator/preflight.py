"""A service's `model_path` and `label_path` against the files its packages hold (pure).

The ModelPackage reconcile records what each version holds (mlmodel_fetch.contents);
here that meets the service's attributes, so a version whose model file is missing or
not TFLite, or whose labels file does not match the model's classes, is refused before
it rolls out: the server would only say so in a crash loop. What the operator could not
read (a PVC, a URL it does not download) is left to the init container and the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlmodel_fetch import contents
from mlmodel_operator.packages import Resolution, ResolvedPackage, package_file


@dataclass(frozen=True)
class _Located:
    """A path inside one resolved package; `facts` None: the package does not hold it."""

    pkg: ResolvedPackage
    path: str
    facts: contents.FileFacts | None

    def refuse(self, reason: str, problem: str) -> Resolution:
        return Resolution(reason=reason, message=f"{self.pkg.package} {self.pkg.version}: {problem}")

    def missing(self, what: str) -> str:
        held = self.pkg.contents.paths() if self.pkg.contents else []
        return contents.missing(what, self.path, held)


def _locate(path: str, by_name: dict[str, ResolvedPackage]) -> _Located | None:
    """Where `path` points, when the package's files are known well enough to tell."""
    found = package_file(path)
    pkg = by_name.get(found[0]) if found else None
    if found is None or pkg is None or pkg.contents is None:
        return None
    facts = pkg.contents.find(found[1])
    if facts is None and not pkg.contents.complete:
        return None  # not among the files described; it may be among the others
    return _Located(pkg, contents.member_path(found[1]), facts)


def _model_problem(model: _Located) -> Resolution | None:
    if model.facts is None:
        return model.refuse("ModelFileMissing", model.missing("model file"))
    if model.facts.format != contents.TFLITE:
        return model.refuse("NotTFLite", contents.not_a_model(model.path))
    return None


def _labels_problem(labels: _Located, model: _Located | None) -> Resolution | None:
    if labels.facts is None:
        return labels.refuse("LabelsFileMissing", labels.missing("labels file"))
    classes = model.facts.classes if model and model.facts else None
    lines = labels.facts.lines
    if model is None or classes is None or not lines or lines == classes:
        return None
    where = "" if model.pkg == labels.pkg else f" ({model.pkg.package} {model.pkg.version})"
    return labels.refuse(
        "LabelsMismatch",
        f"labels file {labels.path} has {lines} labels but model {model.path}{where} has {classes} classes",
    )


def check(resolution: Resolution, attributes: dict[str, Any]) -> Resolution:
    """`resolution` unchanged, or refused with the first problem its files show."""
    if not resolution.ok:
        return resolution
    by_name = {p.name: p for p in resolution.packages}
    model = _locate(str(attributes.get("model_path") or ""), by_name)
    labels = _locate(str(attributes.get("label_path") or ""), by_name)
    problem = _model_problem(model) if model else None
    if problem is None and labels is not None:
        problem = _labels_problem(labels, model)
    return problem or resolution
