"""Moved to `mlmodel_tflite.fbmodel`. Only runtime/model.py's relative import still comes
here; delete this module once it imports from mlmodel_tflite."""

from mlmodel_tflite.fbmodel import NOT_TFLITE, is_tflite

__all__ = ["NOT_TFLITE", "is_tflite"]
