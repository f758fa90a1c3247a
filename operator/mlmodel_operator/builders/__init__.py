"""Pure functions from a custom resource (plus resolved facts) to child manifests.

Nothing here talks to the API server, so every rule about what the operator
creates (labels, owner references, the restricted security profile, init
containers per package, the pinned-version annotation) is unit-tested.
"""
