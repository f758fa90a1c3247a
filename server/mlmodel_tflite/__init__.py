"""mlmodel_tflite: what a TFLite model file says, read from its bytes without LiteRT (pure).

`fbmodel` (is it TFLite; how many classes a classifier has), `metadata` (the TFLite Metadata
buffer and the files zipped onto the model: descriptions, labels, normalization) and
`flatbuf` (the few lines of FlatBuffers reading both use). The inference server
(mlmodel_server.runtime), `mlmodel fetch` and, through mlmodel_fetch.contents, the operator
read models with it, so the control plane and the fetcher never import the server package.
It needs only `flatbuffers`.
"""
