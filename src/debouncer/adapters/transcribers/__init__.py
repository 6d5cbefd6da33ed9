"""Transcriber implementations (voice notes become text), one module per service, chosen by TRANSCRIBE_PROVIDER."""

from __future__ import annotations

from debouncer.adapters.secrets import SecretName, Secrets
from debouncer.config import Settings
from debouncer.domain.errors import ConfigurationError
from debouncer.domain.ports import MediaStore, Transcriber


def build_transcriber(settings: Settings, secrets: Secrets, store: MediaStore) -> Transcriber | None:
    """The configured transcriber, or None for "none" (voice notes then stay placeholders).

    Imports are deferred: a Lambda loads only the client it uses.
    """
    if settings.transcribe_provider == "openai":
        from debouncer.adapters.transcribers.openai import OpenAICompatibleTranscriber

        base_url = settings.transcribe_base_url or settings.openai_base_url
        if not base_url:
            raise ConfigurationError("TRANSCRIBE_PROVIDER=openai needs TRANSCRIBE_BASE_URL or OPENAI_BASE_URL")
        # Its own key when set (Groq for speech, another provider for chat), else the chat key; self-hosted Whisper
        # servers usually run without one.
        keys: tuple[SecretName, ...] = ("transcribe_api_key", "openai_api_key")
        name = next((n for n in keys if secrets.configured(n)), None)
        return OpenAICompatibleTranscriber(
            base_url,
            settings.transcribe_model,
            secrets.getter(name) if name else lambda: None,
            timeout_seconds=settings.ai_timeout_seconds,
            max_attempts=settings.ai_max_attempts,
        )
    if settings.transcribe_provider == "aws":
        import boto3
        from botocore.config import Config

        from debouncer.adapters.transcribers.aws import AmazonTranscriber

        # Fail fast, as every other client here: the job's own wait is the bounded part, and the state machine
        # retries the rest.
        config = Config(retries={"total_max_attempts": 3, "mode": "standard"}, connect_timeout=2, read_timeout=5)
        return AmazonTranscriber(
            boto3.client("transcribe", region_name=settings.aws_region, config=config),
            boto3.client("s3", region_name=settings.aws_region, config=config),
            store,
            max_wait_seconds=settings.ai_timeout_seconds,
        )
    return None
