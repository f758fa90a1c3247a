"""`spec.canary` of an MLModelService, its status and its columns.

Every rule the API server can check is CEL here, with the field named, so a candidate that
is the stable version, of another package, a share outside 0-100, steps that do not climb
to 100 or a gate that cannot be measured never reach the operator.
"""

from __future__ import annotations

from mlmodel_operator.crdgen.schema import DURATION_SECONDS, Schema, obj, string

_VERSION = string(128, minLength=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._+:-]*$")
# The entry the candidate stands in for: canary.name, or the only one.
_ENTRY = "(has(self.canary.name) ? p.name == self.canary.name : true)"


def _number(low: float, high: float, description: str, **extra: object) -> Schema:
    return {"type": "number", "minimum": low, "maximum": high, "description": description, **extra}


def _gates() -> Schema:
    return obj(
        {
            "maxErrorRate": _number(0, 1, "Largest share of the candidate's inferences that may fail."),
            "maxP99Ms": _number(
                0,
                10000,
                "Largest 99th percentile of the candidate's inference time, in milliseconds "
                "(measured up to 10 s).",
                exclusiveMinimum=True,
            ),
            "minAgreement": _number(
                0, 1, "Smallest share of mirrored requests on which both versions agree (needs mirror)."
            ),
        },
        description="What the candidate must show at every step; a gate left out is not checked.",
    )


def _steps() -> Schema:
    return {
        "type": "array",
        "minItems": 1,
        "maxItems": 10,
        "items": {"type": "integer", "minimum": 0, "maximum": 100},
        "description": "The candidate's share at each step, e.g. [10, 50, 100].",
        "x-kubernetes-validations": [
            {
                "rule": "self.isSorted() && self.all(x, self.exists_one(y, y == x))",
                "message": "steps must be strictly increasing",
            },
            {
                "rule": "self[size(self) - 1] == 100",
                "message": "the last step must be 100 (the candidate answering every request)",
            },
        ],
    }


def _interval() -> Schema:
    return string(
        24,
        pattern=r"^([0-9]{1,3}d)?([0-9]{1,4}h)?([0-9]{1,5}m)?([0-9]{1,6}s)?$",
        description="How long each step runs with every gate met before the next (e.g. 30s, 5m).",
        **{
            "x-kubernetes-validations": [
                {
                    "rule": f"self != '' && {DURATION_SECONDS} >= 1 && {DURATION_SECONDS} <= 86400",
                    "message": "interval must be a duration between 1s and 1d, e.g. 30s, 5m or 1h",
                }
            ]
        },
    )


def _promotion() -> Schema:
    return obj(
        {
            "steps": _steps(),
            "interval": _interval(),
            "minRequests": {
                "type": "integer",
                "minimum": 1,
                "maximum": 1000000,
                "default": 100,
                "description": "Candidate inferences (and comparisons) a step needs before any decision.",
            },
            "gates": _gates(),
        },
        required=["steps", "interval"],
        description="Step the candidate's share up automatically while the gates hold; roll it back "
        "as soon as one fails. Progress is in status.canary: the repository records a promotion.",
    )


def canary_spec() -> Schema:
    return obj(
        {
            "name": string(
                40,
                pattern="^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$",
                description="The spec.packages entry whose version the candidate replaces "
                "(may be left out when there is one entry).",
            ),
            "package": string(
                253, minLength=1, description="The entry's ModelPackage, if written: it must be the same."
            ),
            "version": {**_VERSION, "description": "The candidate version of that package."},
            "percent": {
                "type": "integer",
                "minimum": 0,
                "maximum": 100,
                "description": "Share of live requests the candidate answers (with promotion: the first "
                "step).",
            },
            "mirror": {
                "type": "boolean",
                "default": False,
                "description": "Run every request on both versions too; the other answer is only compared.",
            },
            "tolerance": {
                "type": "number",
                "minimum": 0,
                "default": 0.001,
                "description": "Largest difference of agreeing values, for models that are neither "
                "classifiers (same top-1 class) nor detectors (same boxes).",
            },
            "promotion": _promotion(),
        },
        required=["version"],
        description="A candidate version served beside the stable one by every pod, for a share of "
        "the requests and/or mirrored; no service mesh needed.",
        **{"x-kubernetes-validations": _canary_rules()},
    )


def _canary_rules() -> list[Schema]:
    return [
        {
            "rule": "has(self.percent) || has(self.promotion)",
            "message": "canary.percent is required without promotion",
            "fieldPath": ".percent",
            "reason": "FieldValueRequired",
        },
        {
            "rule": "!has(self.promotion) || !has(self.percent) || self.percent == self.promotion.steps[0]",
            "message": "canary.percent must be the first promotion step (or be left out)",
            "fieldPath": ".percent",
        },
        {
            "rule": "!has(self.promotion) || !has(self.promotion.gates) || "
            "!has(self.promotion.gates.minAgreement) || (has(self.mirror) && self.mirror)",
            "message": "promotion.gates.minAgreement needs mirror: true (agreement is measured on "
            "mirrored requests)",
            "fieldPath": ".promotion.gates.minAgreement",
        },
    ]


def service_rules() -> list[Schema]:
    """The rules that need spec.packages beside spec.canary."""
    return [
        {
            "rule": "!has(self.canary) || (has(self.canary.name) ? (has(self.packages) && "
            "self.packages.exists(p, p.name == self.canary.name)) : "
            "(has(self.packages) && size(self.packages) == 1))",
            "message": "canary.name must name an entry of spec.packages (it may be left out when "
            "there is exactly one)",
            "fieldPath": ".canary.name",
        },
        {
            "rule": "!has(self.canary) || !has(self.packages) || "
            f"!self.packages.exists(p, {_ENTRY} && p.version == self.canary.version)",
            "message": "canary.version is the version spec.packages already asks for; a candidate "
            "must be another version",
            "fieldPath": ".canary.version",
        },
        {
            # `package` is a CEL keyword: Kubernetes names the field `__package__` in rules.
            "rule": "!has(self.canary) || !has(self.canary.__package__) || (has(self.packages) && "
            f"self.packages.exists(p, {_ENTRY} && p.__package__ == self.canary.__package__))",
            "message": "canary.package must be the ModelPackage of the entry it stands in for: a "
            "candidate is another version of the same package",
            "fieldPath": ".canary.package",
        },
    ]


def _observed() -> Schema:
    count = {"type": "integer", "format": "int64"}
    return obj(
        {
            "pods": {"type": "integer"},
            "requests": count,
            "candidateRequests": count,
            "candidateShare": {"type": "number"},
            "candidateRuns": count,
            "errorRate": {"type": "number"},
            "comparisons": count,
            "agreement": {"type": "number"},
            "p99Ms": {"type": "number"},
            "unreachable": {"type": "array", "items": string(1024)},
        }
    )


def canary_status() -> Schema:
    decision = obj(
        {
            "time": string(64, format="date-time"),
            "step": {"type": "integer"},
            "percent": {"type": "integer"},
            "action": {"type": "string", "enum": ["Promote", "Complete", "RollBack"]},
            "reason": string(128),
            "message": string(4096),
            "observed": _observed(),
        }
    )
    states = ["Pending", "Refused", "Progressing", "Manual", "Promoted", "RolledBack"]
    return obj(
        {
            "key": string(64),
            "name": string(),
            "package": string(),
            "stable": string(128),
            "candidate": string(128),
            "state": {"type": "string", "enum": states},
            "percent": {"type": "integer"},
            "mirror": {"type": "boolean"},
            "step": {"type": "integer"},
            "stepStartedAt": string(64, format="date-time"),
            "observedAt": string(64, format="date-time"),
            "observed": _observed(),
            "reason": string(128),
            "message": string(4096),
            "decisions": {"type": "array", "items": decision},
        }
    )


def canary_columns() -> list[Schema]:
    return [
        {"name": "Candidate", "type": "string", "jsonPath": ".status.canary.candidate"},
        {"name": "Share", "type": "integer", "jsonPath": ".status.canary.percent"},
    ]
