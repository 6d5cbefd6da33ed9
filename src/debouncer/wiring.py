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
from debouncer.adapters.stepfunctions import StepFunctionsTimer
from debouncer.config import Settings
from debouncer.errors import ConfigurationError
from debouncer.ingest import Ingest
from debouncer.models import CHANNELS
from debouncer.ports import AIProvider, ChannelSender
from debouncer.processing import Processor
from debouncer.replying import Replier
from debouncer.webhook import build_app

# Fail fast and let Step Functions (or the channel's redelivery) do the retrying, with backoff we can see.
_CLIENT_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=2, read_timeout=5)


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
    )


def build_webhook_app(settings: Settings | None = None) -> APIGatewayHttpResolver:
    """post_message: the HTTP routes over Ingest."""
    settings = settings or Settings()
    if not settings.state_machine_arn:
        raise ConfigurationError("STATE_MACHINE_ARN is not set")
    ingest = Ingest(
        build_store(settings),
        StepFunctionsTimer(client("stepfunctions", settings), settings.state_machine_arn),
        max_messages=settings.max_messages,
        max_buffer_bytes=settings.max_buffer_bytes,
        flush_keywords=settings.flush_keywords,
    )
    return build_app(ingest, Secrets(settings), settings)


def build_ai(settings: Settings) -> AIProvider:
    """The configured AI provider."""
    if settings.ai_provider == "echo":
        return EchoAI()
    raise ConfigurationError(f"AI provider '{settings.ai_provider}' is not available in this build")


def build_processor(settings: Settings | None = None) -> Processor:
    """process_message: claim + AI."""
    settings = settings or Settings()
    return Processor(
        build_store(settings),
        build_ai(settings),
        system_prompt=settings.ai_system_prompt,
        history_turns=settings.ai_history_turns,
    )


def build_senders(settings: Settings) -> dict[str, ChannelSender]:
    """One sender per channel; the local outbox for every channel without credentials."""
    del settings
    outbox = OutboxSender(LOCAL_OUTBOX)
    return dict.fromkeys(CHANNELS, outbox)


def build_replier(settings: Settings | None = None) -> Replier:
    """reply: deliver through the channel."""
    settings = settings or Settings()
    return Replier(build_store(settings), build_senders(settings))
