"""Protocol Buffers of the Open Inference Protocol: the .proto and the code hack/gen-grpc.sh generates."""
