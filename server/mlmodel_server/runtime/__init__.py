"""The model runtime: LiteRT interpreters, tensor specs, TFLite metadata."""
