"""The LARS service: drum stem separation with LarsNet, as a command and a Python API."""

__version__ = "1.0.0"
