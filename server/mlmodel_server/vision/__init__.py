"""The vision service: image classification and detection on top of a model."""
