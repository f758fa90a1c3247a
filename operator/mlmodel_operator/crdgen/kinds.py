"""The three mlmodel.dev kinds and kopf's peering kinds."""

from __future__ import annotations

from mlmodel_operator.crdgen.canary import canary_columns, canary_spec, canary_status, service_rules
from mlmodel_operator.crdgen.scaling import scaling_knobs, scaling_rules
from mlmodel_operator.crdgen.schema import (
    DNS_SUBDOMAIN,
    NAME_RULE,
    Schema,
    conditions,
    crd,
    obj,
    printer_columns,
    serving_knobs,
    serving_status,
    string,
    string_map,
)

_VERSION = string(128, minLength=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._+:-]*$")
_URL_RULE = "self.matches('^https?://[^/?#]+/[^?#]*[.](tflite|tar[.]gz|tgz|zip)([?#].*)?$')"
_PLACEHOLDERS = "[$][{]packages[.][^}]*[}]"


def _ca_config_map() -> Schema:
    """`source.caConfigMap`: the PEM bundle of a private CA, for an https url."""
    return obj(
        {
            "name": string(
                253, minLength=1, pattern=DNS_SUBDOMAIN, description="A ConfigMap in this namespace."
            ),
            "key": string(
                253,
                minLength=1,
                pattern=r"^[-._a-zA-Z0-9]+$",
                default="ca.crt",
                description="The key holding the PEM bundle.",
            ),
        },
        required=["name"],
        description="Verify the https url's server against this CA bundle only, instead of the system "
        "store (like curl --cacert): for a server with a private CA. Mounted read-only into the init "
        "container; the operator reads it to verify the URL.",
    )


def _file_facts() -> Schema:
    """One file of a version the operator read (mlmodel_fetch.contents)."""
    return obj(
        {
            "path": string(1024),
            "format": {"type": "string", "enum": ["TFLite", "Text", "Other"]},
            "classes": {"type": "integer"},
            "lines": {"type": "integer"},
        }
    )


def _source() -> Schema:
    url = string(
        2048,
        description="http(s) URL of a .tflite, .tar.gz or .zip file.",
        **{
            "x-kubernetes-validations": [
                {"rule": _URL_RULE, "message": "must be an http(s) URL of a .tflite, .tar.gz or .zip file"}
            ]
        },
    )
    config_map = obj(
        {"name": string(253, minLength=1), "key": string(253, minLength=1, pattern=r"^[-._a-zA-Z0-9]+$")},
        required=["name", "key"],
        description="A key of a ConfigMap in the same namespace (binaryData).",
    )
    pvc_path = string(
        1024,
        minLength=1,
        **{
            "x-kubernetes-validations": [
                {
                    "rule": "!self.startsWith('/') && !self.matches('(^|/)[.][.](/|$)')",
                    "message": "must be a relative path inside the claim without '..'",
                }
            ]
        },
    )
    pvc = obj({"claimName": string(253, minLength=1), "path": pvc_path}, required=["claimName", "path"])
    insecure = {
        "type": "boolean",
        "description": "Allow a plain http:// url (no transport security; the sha256 still "
        "protects the bytes). Off by default: http URLs are refused.",
    }
    return obj(
        {
            "url": url,
            "allowInsecureHttp": insecure,
            "caConfigMap": _ca_config_map(),
            "configMap": config_map,
            "persistentVolumeClaim": pvc,
        },
        None,
        description="Exactly one of url, configMap, persistentVolumeClaim.",
        **{
            "x-kubernetes-validations": [
                {
                    "rule": "[has(self.url), has(self.configMap), "
                    "has(self.persistentVolumeClaim)].filter(x, x).size() == 1",
                    "message": "exactly one of url, configMap or persistentVolumeClaim must be set",
                },
                {
                    "rule": "!has(self.url) || self.url.startsWith('https://') || "
                    "(has(self.allowInsecureHttp) && self.allowInsecureHttp)",
                    "message": "http:// URLs are refused unless source.allowInsecureHttp is true; use https://",
                    "fieldPath": ".url",
                },
                {
                    "rule": "!has(self.allowInsecureHttp) || has(self.url)",
                    "message": "allowInsecureHttp applies to url sources only",
                    "fieldPath": ".allowInsecureHttp",
                },
                {
                    "rule": "!has(self.caConfigMap) || (has(self.url) && self.url.startsWith('https://'))",
                    "message": "caConfigMap applies to https:// url sources only",
                    "fieldPath": ".caConfigMap",
                },
            ]
        },
    )


def model_package() -> Schema:
    version = obj(
        {
            "version": _VERSION,
            "source": _source(),
            "sha256": string(
                64, pattern="^[a-f0-9]{64}$", description="Lowercase hex digest; required for url sources."
            ),
            "created": string(64, format="date-time"),
            "latest": {"type": "boolean", "description": "Mark this version as latest."},
        },
        required=["version", "source"],
        **{
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.source.url) || has(self.sha256)",
                    "message": "sha256 is required for url sources",
                    "fieldPath": ".sha256",
                    "reason": "FieldValueRequired",
                }
            ]
        },
    )
    spec = obj(
        {
            "versions": {
                "type": "array",
                "minItems": 1,
                "maxItems": 256,
                "items": version,
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["version"],
            }
        },
        required=["versions"],
        **{
            "x-kubernetes-validations": [
                {
                    "rule": "self.versions.filter(v, has(v.latest) && v.latest).size() <= 1",
                    "message": "at most one version may be marked latest",
                    "fieldPath": ".versions",
                }
            ]
        },
    )
    entry = obj(
        {
            "version": string(128),
            "sourceType": string(32),
            "verified": {"type": "string", "enum": ["True", "False", "Unknown"]},
            "reason": string(128),
            "message": string(4096),
            "fingerprint": string(64),
            "sha256": string(64),
            "size": {"type": "integer", "format": "int64"},
            "files": {"type": "array", "items": _file_facts()},
            "filesTruncated": {"type": "boolean"},
        }
    )
    status = obj(
        {
            "observedGeneration": {"type": "integer", "format": "int64"},
            "latestVersion": string(128),
            "conditions": conditions(),
            "versions": {"type": "array", "items": entry},
        }
    )
    columns = [
        {"name": "Latest", "type": "string", "jsonPath": ".status.latestVersion"},
        {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
        {
            "name": "Verified",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="Verified")].status',
        },
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    return crd("ModelPackage", "modelpackages", ["mpkg"], spec, status, columns)


def _placeholder_rule(field: str) -> Schema:
    return {
        "rule": f"!has(self.attributes.{field}) || self.attributes.{field}"
        f".findAll('{_PLACEHOLDERS}').all(p, has(self.packages) && "
        "self.packages.exists(k, p == '${packages.' + k.name + '}' || "
        "p == '${packages.ml_model.' + k.name + '}'))",
        "message": f"attributes.{field} refers to a package that is not listed in spec.packages",
        "fieldPath": f".attributes.{field}",
    }


def _batching() -> Schema:
    return obj(
        {
            "maxBatchSize": {
                "type": "integer",
                "minimum": 2,
                "maximum": 1024,
                "description": "Rows per batch (`mlmodel serve --max-batch-size`).",
            },
            "maxBatchDelayMs": {
                "type": "number",
                "minimum": 0,
                "maximum": 1000,
                "default": 0,
                "description": "How long a gathering batch waits for more requests (`--max-batch-delay`).",
            },
        },
        required=["maxBatchSize"],
        description="Adaptive batching: requests that find every interpreter busy run together. "
        "Only models whose tensors all have a dynamic first dimension batch; it pays for dense, "
        "tabular models (docs/server.md). Off without it.",
    )


def mlmodel_service() -> Schema:
    attributes = obj(
        {
            "model_path": string(1024, minLength=1),
            "label_path": string(1024),
            "num_threads": {"type": "integer", "minimum": 1, "maximum": 256, "default": 1},
        },
        required=["model_path"],
        description="tflite_cpu attributes, as in Viam.",
    )
    package = obj(
        {
            "name": string(
                40,
                pattern="^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$",
                description="Local name, used as ${packages.<name>}.",
            ),
            "package": string(253, minLength=1, description="A ModelPackage in this namespace."),
            "version": string(
                128, minLength=1, default="latest", description="'latest' or a pinned version."
            ),
        },
        required=["name", "package"],
    )
    unique = {
        "rule": "!has(self.packages) || self.packages.all(a, self.packages.filter(b, "
        "b.name.replace('_', '-') == a.name.replace('_', '-')).size() == 1)",
        "message": "package names must stay unique when '_' is read as '-'",
        "fieldPath": ".packages",
    }
    spec = obj(
        {
            "model": {"type": "string", "enum": ["tflite_cpu"], "default": "tflite_cpu"},
            "attributes": attributes,
            "packages": {
                "type": "array",
                "maxItems": 16,
                "items": package,
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
            },
            "canary": canary_spec(),
            "batching": _batching(),
            **serving_knobs(),
            **scaling_knobs(),
        },
        required=["attributes"],
        **{
            "x-kubernetes-validations": [
                _placeholder_rule("model_path"),
                _placeholder_rule("label_path"),
                unique,
                *scaling_rules(),
                *service_rules(),
            ]
        },
    )
    columns = printer_columns()
    columns[2:2] = canary_columns()  # after Version: the candidate beside the version serving
    return crd(
        "MLModelService",
        "mlmodelservices",
        ["mlms", "mlmodel"],
        spec,
        serving_status({"canary": canary_status()}),
        columns,
        [NAME_RULE],
    )


def _unit_numbers(min_items: int, rule: Schema | None = None) -> Schema:
    out: Schema = {"type": "array", "minItems": min_items, "maxItems": 4, "items": {"type": "number"}}
    if rule:
        out["x-kubernetes-validations"] = [rule]
    return out


def vision_service() -> Schema:
    order = {
        "type": "array",
        "minItems": 4,
        "maxItems": 4,
        "items": {"type": "integer", "minimum": 0, "maximum": 3},
        "x-kubernetes-validations": [
            {
                "rule": "self.all(x, self.exists_one(y, y == x))",
                "message": "must be 4 unique integers from 0 to 3",
            }
        ],
    }
    confidences = {
        "type": "object",
        "maxProperties": 1000,
        "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1},
    }
    attributes = obj(
        {
            "default_minimum_confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "label_confidences": confidences,
            "remap_input_names": string_map(),
            "remap_output_names": string_map(),
            "xmin_ymin_xmax_ymax_order": order,
            "input_image_mean_value": _unit_numbers(3),
            "input_image_std_dev": _unit_numbers(
                3, {"rule": "self.all(x, x != 0.0)", "message": "values must not be 0"}
            ),
            "input_image_bgr": {"type": "boolean"},
        },
        description="Viam mlmodel vision attributes (exact key names).",
    )
    spec = obj(
        {
            "mlmodelName": string(55, minLength=1, description="An MLModelService in this namespace."),
            "attributes": attributes,
            **serving_knobs(),
            **scaling_knobs(),
        },
        required=["mlmodelName"],
        **{"x-kubernetes-validations": scaling_rules()},
    )
    return crd(
        "VisionService",
        "visionservices",
        ["vis", "vision"],
        spec,
        serving_status(),
        printer_columns(),
        [NAME_RULE],
    )


def _peering(kind: str, plural: str, scope: str) -> Schema:
    loose = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.kopf.dev"},
        "spec": {
            "group": "kopf.dev",
            "scope": scope,
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": obj({"spec": loose, "status": loose})},
                }
            ],
        },
    }


def all_crds() -> dict[str, Schema]:
    """File name -> CRD, one file per CRD."""
    return {
        "mlmodel.dev_modelpackages.yaml": model_package(),
        "mlmodel.dev_mlmodelservices.yaml": mlmodel_service(),
        "mlmodel.dev_visionservices.yaml": vision_service(),
        "kopf.dev_kopfpeerings.yaml": _peering("KopfPeering", "kopfpeerings", "Namespaced"),
        "kopf.dev_clusterkopfpeerings.yaml": _peering("ClusterKopfPeering", "clusterkopfpeerings", "Cluster"),
    }
