"""Pure status logic: conditions, the aggregate `Ready`, phases, auto-stop, events.

Status is computed from what the API server says about the children (the
Deployment and its pods), never from what the operator intended, so `Ready`
does not lie when an init container fails or a pod crash-loops.
"""
