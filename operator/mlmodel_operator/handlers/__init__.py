"""Orchestration per kind: read the world, call the pure builders and status
functions, write children through `Kube.apply` and status through
`Kube.patch_status`. No business rule lives here."""
