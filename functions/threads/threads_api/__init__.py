"""The Threads API: an OpenAI-compatible home for Assistants threads."""
