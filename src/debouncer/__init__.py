"""chat-debouncer: answer each burst of chat messages once."""

__version__ = "0.1.0"
