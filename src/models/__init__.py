"""Getting the LarsNet weights right: status, install (download, safe unzip, verify, atomic swap), convert.

Import-light: each sub-module imports what it needs; only `convert` imports torch.
"""
