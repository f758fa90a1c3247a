"""`mlmodel activator`: the one shared proxy that holds requests for stopped services
with `spec.wakeOnRequest`, wakes them, and forwards the requests once a pod is Ready."""
