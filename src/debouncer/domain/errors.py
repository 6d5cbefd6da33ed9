"""Domain errors. Step Functions retries on the class name, so names are part of the contract."""


class DebouncerError(Exception):
    """Base of every error this package raises on purpose."""


class InvalidPayloadError(DebouncerError):
    """The request body is not JSON, or fails its channel's schema: answered 400."""


class SignatureError(DebouncerError):
    """Missing or wrong signature/secret token: answered 401."""


class VerificationError(DebouncerError):
    """A failed webhook subscription handshake: answered 403."""


class PayloadTooLargeError(DebouncerError):
    """Body over the size limit: answered 413."""


class RetryableError(DebouncerError):
    """A transient failure (throttling, 5xx, timeout): the state machine retries with backoff."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(DebouncerError):
    """A failure no retry can fix (window closed, user blocked, bad token): the burst goes to the DLQ."""


class BurstNotDueError(DebouncerError):
    """The burst's timer woke, but a message arrived meanwhile and moved its quiet deadline: the state machine reads
    the buffer again and sleeps until the new deadline (a Catch, not a failure: nothing is claimed or lost)."""


class ConfigurationError(DebouncerError):
    """Settings are missing or inconsistent."""


class ReplyLeaseHeldError(RetryableError):
    """Another run holds a turn's reply lease: it is sending, or its lease has not lapsed yet (the state machine
    waits and calls again)."""
