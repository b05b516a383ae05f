"""llmgateway: one API in front of every LLM vendor, with honest metrics and a request log."""

__version__ = "0.1.0"
