"""Inference runtimes for the mask models: ONNX Runtime + numpy (no torch), next to the torch path in `larsnet`.

Importing this package is cheap: onnxruntime is imported when a session is first created.
"""
