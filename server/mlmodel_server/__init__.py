"""mlmodel_server: the data plane, a tflite_cpu inference server (`mlmodel serve`)."""

__version__ = "0.1.0"
