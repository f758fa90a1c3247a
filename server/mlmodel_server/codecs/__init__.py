"""Wire codecs: Open Inference Protocol v2 tensors (JSON and binary extension)."""
