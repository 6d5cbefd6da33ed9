"""The S3 adapter: the media bucket, where a burst's media is kept once (under media/, expired by its lifecycle)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from debouncer.domain.errors import RetryableError
from debouncer.media.model import FetchedMedia

PREFIX = "media/"  # Terraform grants process_message this prefix only


class S3MediaStore:
    """Implements MediaStore on one bucket; the bucket's default encryption and lifecycle apply to every object."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def put(self, key: str, media: FetchedMedia) -> None:
        """Store one item (overwriting is harmless: every run stores the same bytes under the same key)."""
        try:
            self._client.put_object(Bucket=self._bucket, Key=PREFIX + key, Body=media.data, ContentType=media.mime_type)
        except ClientError as e:
            raise RetryableError(f"S3 put: {e.response.get('Error', {}).get('Code', '')}") from e

    def get(self, key: str) -> FetchedMedia | None:
        """The stored item, or None when there is none (never stored, or expired by the lifecycle rule)."""
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=PREFIX + key)
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404"):
                return None
            raise RetryableError(f"S3 get: {code}") from e
        return FetchedMedia(response["Body"].read(), response.get("ContentType") or "application/octet-stream")

    def uri(self, key: str) -> str:
        """The object's s3:// URI (Amazon Transcribe reads it with the caller's permissions)."""
        return f"s3://{self._bucket}/{PREFIX}{key}"
