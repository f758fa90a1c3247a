"""The model runtime: LiteRT interpreters, tensor specs, the pool. TFLite files are read
without LiteRT (identifier, classes, metadata) by mlmodel_tflite."""
