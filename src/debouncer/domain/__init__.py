"""The domain: what a message, a burst and a turn are, and the ports the use cases talk through.

Pure Python and pydantic: nothing here imports boto3, an HTTP client, Powertools or a handler (`make lint` checks
this with import-linter)."""
