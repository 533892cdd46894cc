"""The Threads API: an OpenAI-compatible home for Assistants threads."""

from .reexports import POWERTOOLS_PACKAGES, defer

# Before any module here imports Powertools: its packages' re-exports are loaded as they are used (reexports.py).
defer(*POWERTOOLS_PACKAGES)
