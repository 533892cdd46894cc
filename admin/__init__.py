"""Operator commands, run from a checkout against a deployed stack or a local endpoint's store."""

import local  # noqa: F401  (puts the function's code, whose key rules these commands share, on sys.path)
