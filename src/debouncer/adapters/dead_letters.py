"""The SQS adapter of the dead-letter queue: read records, delete one, leave the rest on the queue."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from debouncer.domain.errors import RetryableError
from debouncer.domain.ports import DeadLetter

# SQS hands out at most 10 messages a call.
BATCH = 10
# A received record is hidden from other readers this long: long enough for one whole pass (a redrive holds every
# record it leaves until the end, so it never receives one twice), and it reappears by itself if the reader dies.
VISIBILITY_SECONDS = 900


class SqsDeadLetters:
    """Implements DeadLetters on one queue.

    `wait_seconds` is the long poll of each receive: short polling asks only some of SQS's servers, and an empty
    answer from them would end a pass early; the local emulator has one (0 there).
    """

    def __init__(self, client: Any, queue_url: str, *, wait_seconds: int = 1) -> None:
        self._client = client
        self._url = queue_url
        self._wait = wait_seconds

    def receive(self) -> list[DeadLetter]:
        """Up to 10 records, hidden for VISIBILITY_SECONDS; [] once no visible record is left."""
        try:
            response = self._client.receive_message(
                QueueUrl=self._url,
                MaxNumberOfMessages=BATCH,
                VisibilityTimeout=VISIBILITY_SECONDS,
                WaitTimeSeconds=self._wait,
            )
        except ClientError as e:
            raise _retryable(e, "ReceiveMessage") from e
        return [DeadLetter(body=m["Body"], receipt=m["ReceiptHandle"]) for m in response.get("Messages", [])]

    def delete(self, letter: DeadLetter) -> None:
        try:
            self._client.delete_message(QueueUrl=self._url, ReceiptHandle=letter.receipt)
        except ClientError as e:
            raise _retryable(e, "DeleteMessage") from e

    def release(self, letter: DeadLetter) -> None:
        """Visible again at once, for the next reader."""
        try:
            self._client.change_message_visibility(
                QueueUrl=self._url, ReceiptHandle=letter.receipt, VisibilityTimeout=0
            )
        except ClientError as e:
            raise _retryable(e, "ChangeMessageVisibility") from e

    def peek(self) -> list[DeadLetter]:
        """Every record on the queue, each left there (visible again once all are read)."""
        letters: list[DeadLetter] = []
        try:
            while batch := self.receive():
                letters += batch
        finally:
            for letter in letters:
                self.release(letter)
        return letters


def _retryable(error: ClientError, what: str) -> RetryableError:
    return RetryableError(f"SQS {what}: {error.response.get('Error', {}).get('Code', '')}")
