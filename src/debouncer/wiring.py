"""Composition root: builds each handler's use case from Settings once per execution environment."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from botocore.config import Config

from debouncer.adapters.ai_echo import EchoAI
from debouncer.adapters.dynamodb import DynamoDbStore
from debouncer.adapters.outbox import LOCAL_OUTBOX, OutboxSender
from debouncer.adapters.secrets import Secrets
from debouncer.adapters.senders.unconfigured import UnconfiguredSender
from debouncer.adapters.stepfunctions import StepFunctionsTimer
from debouncer.api.webhook import build_app
from debouncer.config import Settings
from debouncer.domain.errors import ConfigurationError
from debouncer.domain.models import CHANNELS
from debouncer.domain.ports import AIProvider, ChannelSender
from debouncer.media.resolve import MediaResolver
from debouncer.metrics import Counters
from debouncer.usecases.ingest import Ingest
from debouncer.usecases.processing import Processor
from debouncer.usecases.replying import Replier
from debouncer.workflow import reply_lease_seconds

# Fail fast and let Step Functions (or the channel's redelivery) do the retrying, with backoff we can see.
# total_max_attempts counts calls (botocore's max_attempts counts retries after the first): 3 calls at most.
_CLIENT_CONFIG = Config(retries={"total_max_attempts": 3, "mode": "standard"}, connect_timeout=2, read_timeout=5)


def client(service: str, settings: Settings) -> Any:
    """One boto3 client per service and execution environment."""
    return boto3.client(service, region_name=settings.aws_region, config=_CLIENT_CONFIG)


def build_store(settings: Settings) -> DynamoDbStore:
    """The DynamoDB buffer/history adapter."""
    return DynamoDbStore(
        client("dynamodb", settings),
        settings.table_name,
        debounce_seconds=settings.debounce_seconds,
        max_wait_seconds=settings.max_wait_seconds,
        buffer_ttl_seconds=settings.buffer_ttl_seconds,
        history_ttl_seconds=settings.history_ttl_seconds,
        dedupe_ttl_seconds=settings.dedupe_ttl_seconds,
        reply_lease_seconds=reply_lease_seconds(settings.reply_timeout_seconds),
    )


def build_webhook_app(settings: Settings | None = None, counters: Counters | None = None) -> APIGatewayHttpResolver:
    """post_message: the HTTP routes over Ingest, counting into `counters` (its handler publishes them)."""
    settings = settings or Settings()
    if not settings.state_machine_arn:
        raise ConfigurationError("STATE_MACHINE_ARN is not set")
    store = build_store(settings)
    ingest = Ingest(
        store,
        StepFunctionsTimer(client("stepfunctions", settings), settings.state_machine_arn),
        max_messages=settings.max_messages,
        max_buffer_bytes=settings.max_buffer_bytes,
        flush_keywords=settings.flush_keywords,
        control=store,
        handoff_seconds=settings.handoff_seconds,
    )
    return build_app(ingest, Secrets(settings), settings, counters, control=store)


def build_ai(settings: Settings) -> AIProvider:
    """The configured AI provider. Imports are deferred: each Lambda loads only the client it uses."""
    if settings.ai_provider == "bedrock":
        from debouncer.adapters.ai_bedrock import BedrockAI, client_config

        if not settings.bedrock_model_id:
            raise ConfigurationError("AI_PROVIDER=bedrock needs BEDROCK_MODEL_ID")
        # The provider's bounded attempts (calls, not retries) and per-attempt timeout are botocore's own.
        bedrock_config = client_config(
            max_attempts=settings.ai_max_attempts, timeout_seconds=settings.ai_timeout_seconds
        )
        bedrock = boto3.client("bedrock-runtime", region_name=settings.aws_region, config=bedrock_config)
        return BedrockAI(
            bedrock,
            settings.bedrock_model_id,
            max_tokens=settings.ai_max_tokens,
            temperature=settings.ai_temperature,
            media=settings.ai_media,
        )
    if settings.ai_provider == "openai":
        from debouncer.adapters.ai_openai import OpenAICompatibleAI

        if not settings.openai_base_url or not settings.openai_model:
            raise ConfigurationError("AI_PROVIDER=openai needs OPENAI_BASE_URL and OPENAI_MODEL")
        secrets = Secrets(settings)
        has_key = secrets.configured("openai_api_key")  # Ollama and vLLM usually run without one
        return OpenAICompatibleAI(
            settings.openai_base_url,
            settings.openai_model,
            secrets.getter("openai_api_key") if has_key else lambda: None,
            timeout_seconds=settings.ai_timeout_seconds,
            max_attempts=settings.ai_max_attempts,
            max_tokens=settings.ai_max_tokens,
            temperature=settings.ai_temperature,
            media=settings.ai_media,
        )
    return EchoAI(media=settings.ai_media)


def build_senders(settings: Settings) -> dict[str, ChannelSender]:
    """A real sender for every channel with credentials; the others use the local outbox (on AWS: the DLQ)."""
    secrets = Secrets(settings)
    default: ChannelSender = OutboxSender(LOCAL_OUTBOX) if settings.secrets_source == "env" else UnconfiguredSender()
    senders: dict[str, ChannelSender] = dict.fromkeys(CHANNELS, default)
    if secrets.configured("whatsapp_access_token"):
        from debouncer.adapters.senders.whatsapp import WhatsAppSender

        senders["whatsapp"] = WhatsAppSender(
            settings.whatsapp_api_base_url,
            settings.whatsapp_api_version,
            secrets.getter("whatsapp_access_token"),
            default_phone_number_id=settings.whatsapp_phone_number_id or None,
        )
    if secrets.configured("telegram_bot_token"):
        from debouncer.adapters.senders.telegram import TelegramSender

        senders["telegram"] = TelegramSender(settings.telegram_api_base_url, secrets.getter("telegram_bot_token"))
    if secrets.configured("instagram_access_token"):
        from debouncer.adapters.senders.instagram import InstagramSender

        senders["instagram"] = InstagramSender(
            settings.instagram_api_base_url, settings.instagram_api_version, secrets.getter("instagram_access_token")
        )
    if settings.generic_callback_url:
        from debouncer.adapters.senders.generic import GenericSender

        senders["generic"] = GenericSender(settings.generic_callback_url, secrets.getter("generic_secret"))
    return senders


def build_processor(settings: Settings | None = None) -> Processor:
    """process_message: claim + presence + AI (+ the fallback reply when the AI fails for good)."""
    settings = settings or Settings()
    return Processor(
        build_store(settings),
        build_ai(settings),
        system_prompt=settings.ai_system_prompt,
        history_turns=settings.ai_history_turns,
        fallback_message=settings.ai_fallback_message,
        presence=build_senders(settings) if settings.show_typing else None,
        media=build_media_resolver(settings),
        supersede=settings.supersede_stale_answers,
    )


def build_media_resolver(settings: Settings) -> MediaResolver | None:
    """Media read after the claim: per-channel sources, the media bucket, the transcriber; None without a bucket
    (media then stays placeholders, as before)."""
    if not settings.media_bucket:
        return None
    # Imported here: post_message and reply never read media, and their cold starts need not load any of this.
    from debouncer.adapters.media_sources import build_media_sources
    from debouncer.adapters.s3 import S3MediaStore
    from debouncer.adapters.transcribers import build_transcriber

    secrets = Secrets(settings)
    store = S3MediaStore(client("s3", settings), settings.media_bucket)
    return MediaResolver(
        build_media_sources(settings, secrets),
        store,
        build_transcriber(settings, secrets, store),
        max_bytes=settings.max_media_bytes,
    )


def build_replier(settings: Settings | None = None) -> Replier:
    """reply: deliver through the channel."""
    settings = settings or Settings()
    return Replier(build_store(settings), build_senders(settings), supersede=settings.supersede_stale_answers)
