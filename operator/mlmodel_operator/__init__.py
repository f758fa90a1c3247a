"""mlmodel-operator: reconciles ModelPackage, MLModelService and VisionService (mlmodel.dev).

The layout follows the separation kopf operators such as crate-operator use:
pure builders and status functions that are tested without a cluster, and a
thin orchestration layer in `handlers/` that reads the world, calls them, and
writes the result through one apply helper.
"""

GROUP = "mlmodel.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
FIELD_MANAGER = "mlmodel-operator"
