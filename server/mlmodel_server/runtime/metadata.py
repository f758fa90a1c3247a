"""Moved to `mlmodel_tflite.metadata`. Only runtime/model.py's relative import still comes
here; delete this module once it imports from mlmodel_tflite."""

from mlmodel_tflite.metadata import ModelMetadata, parse_labels, read_metadata

__all__ = ["ModelMetadata", "parse_labels", "read_metadata"]
