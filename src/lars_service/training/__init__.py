"""Training LarsNet-family models: losses, the training loop, validation, export, and the `train` API."""
