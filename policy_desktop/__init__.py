"""Policy Desktop: log, run, review and export a local LLM's access-policy decisions."""

__version__ = "0.1.0"
