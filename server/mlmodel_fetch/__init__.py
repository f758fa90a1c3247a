"""`mlmodel fetch`: the init container that puts one model package version in place.

It runs before the inference server in every pod the operator creates: download
(or copy) the bytes, refuse them unless their sha256 matches, unpack archives
without letting them escape the destination, and leave a one-line JSON tensor
summary in the termination message so the operator can report the model's
inputs and outputs without talking to the pod.
"""
