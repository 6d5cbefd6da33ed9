"""Composition root: builds each handler's use case from Settings once per execution environment."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import botocore.session
from botocore.config import Config

from debouncer.adapters.dynamodb import DynamoDbStore
from debouncer.adapters.secrets import Secrets
from debouncer.adapters.stepfunctions import StepFunctionsTimer
from debouncer.config import SecretName, Settings
from debouncer.domain.errors import ConfigurationError
from debouncer.domain.models import CHANNELS
from debouncer.domain.ports import AIProvider, ChannelSender
from debouncer.metrics import Counters
from debouncer.workflow import reply_lease_seconds

# Names for the annotations only: each builder imports what it builds, so a function's cold start loads its own use
# case and no other's (post_message: no AI, media, reply or tenants code; process_message and reply: no routes).
if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    from debouncer.adapters.tenant_catalog import DynamoDbTenantCatalog
    from debouncer.media.resolve import MediaResolver
    from debouncer.tenants import Tenant
    from debouncer.usecases.processing import Processor
    from debouncer.usecases.redrive import Redrive
    from debouncer.usecases.replying import Replier

# Fail fast and let Step Functions (or the channel's redelivery) do the retrying, with backoff we can see.
# total_max_attempts counts calls (botocore's max_attempts counts retries after the first): 3 calls at most.
_CLIENT_CONFIG = Config(retries={"total_max_attempts": 3, "mode": "standard"}, connect_timeout=2, read_timeout=5)


_session: botocore.session.Session | None = None


def client(service: str, settings: Settings, config: Config = _CLIENT_CONFIG) -> Any:
    """One client per service and execution environment, from one botocore session: botocore, not boto3, whose
    import loads s3transfer and its resource layer (about 50 ms of every cold start) for nothing these functions use."""
    global _session
    if _session is None:
        _session = botocore.session.get_session()
    return _session.create_client(service, region_name=settings.aws_region, config=config)


def build_store(settings: Settings, dynamodb: Any = None) -> DynamoDbStore:
    """The DynamoDB buffer/history adapter, with this settings' window (a tenant's own, or the deployment's)."""
    return DynamoDbStore(
        dynamodb or client("dynamodb", settings),
        settings.table_name,
        debounce_seconds=settings.debounce_seconds,
        max_wait_seconds=settings.max_wait_seconds,
        buffer_ttl_seconds=settings.buffer_ttl_seconds,
        history_ttl_seconds=settings.history_ttl_seconds,
        dedupe_ttl_seconds=settings.dedupe_ttl_seconds,
        reply_lease_seconds=reply_lease_seconds(settings.reply_timeout_seconds),
    )


T = TypeVar("T")


class PerTenant(Generic[T]):
    """What a function builds from settings (its use case), for the deployment and for each tenant.

    A tenant's is built on its first message, from its settings over the deployment's and its secrets, and rebuilt
    when its item changes (the catalog's cache lets a change in within a minute, with no restart). With no tenants
    (TENANTS_ENABLED unset, a single-bot deployment) there is only the deployment's, and no catalog read at all.
    """

    def __init__(
        self,
        settings: Settings,
        build: Callable[[Settings, Secrets, str | None], T],
        catalog: DynamoDbTenantCatalog | None = None,
    ) -> None:
        self.settings = settings
        self._build = build
        self._catalog = catalog
        self.default = build(settings, Secrets(settings), None)
        self._lock = threading.Lock()
        self._built: dict[str, tuple[Tenant, T]] = {}

    def for_account(self, channel: str, account: str) -> T:
        """The tenant of this channel account's, or the deployment's."""
        tenant = self._catalog.tenancy().for_account(channel, account) if self._catalog else None
        return self.default if tenant is None else self._for(tenant)

    def for_conversation(self, conversation_key: str) -> T:
        """The one a conversation's key (channel#account#user) belongs to."""
        channel, account, _ = conversation_key.split("#", 2)
        return self.for_account(channel, account)

    def tenant_id(self, conversation_key: str) -> str | None:
        """The id of the tenant a conversation belongs to, for the logs; None: the deployment's own."""
        channel, account, _ = conversation_key.split("#", 2)
        tenant = self._catalog.tenancy().for_account(channel, account) if self._catalog else None
        return None if tenant is None else tenant.id

    def every(self, channel: str, secret: SecretName) -> list[T]:
        """The deployment's, and those of this channel's tenants with their own `secret` (a Meta subscription
        handshake names no account); only those tenants' are built, however many tenants there are."""
        tenancy = self._catalog.tenancy() if self._catalog else None
        tenants = [] if tenancy is None else [t for t in tenancy if t.channel == channel and secret in t.secrets]
        return [self.default, *(self._for(tenant) for tenant in tenants)]

    def by_id(self, tenant_id: str, channel: str) -> T | None:
        """The tenant's with this id on this channel (Telegram's per-bot webhook path); None if there is none."""
        tenant = self._catalog.tenancy().by_id(tenant_id) if self._catalog else None
        return None if tenant is None or tenant.channel != channel else self._for(tenant)

    def _for(self, tenant: Tenant) -> T:
        with self._lock:
            built = self._built.get(tenant.id)
            if built is None or built[0] != tenant:
                from debouncer.tenants import settings_for  # only deployments with tenants get here

                own = settings_for(self.settings, tenant)
                built = (tenant, self._build(own, Secrets(own, tenant.secrets), tenant.id))
                self._built[tenant.id] = built
            return built[1]


def build_catalog(settings: Settings) -> DynamoDbTenantCatalog | None:
    """The tenants' catalog when the deployment has tenants."""
    if not settings.tenants_enabled:
        return None
    from debouncer.adapters.tenant_catalog import DynamoDbTenantCatalog  # a single-bot deployment never loads it

    return DynamoDbTenantCatalog(client("dynamodb", settings), settings.table_name)


def build_webhook_app(settings: Settings | None = None, counters: Counters | None = None) -> APIGatewayHttpResolver:
    """post_message: the HTTP routes over Ingest, counting into `counters` (its handler publishes them)."""
    # Imported here: the routes bring the channels and their JSON Schema validation, which the Step Functions tasks
    # (process_message, reply) never use.
    from debouncer.api.webhook import Scope, build_app
    from debouncer.usecases.ingest import Ingest

    settings = settings or Settings()
    if not settings.state_machine_arn:
        raise ConfigurationError("STATE_MACHINE_ARN is not set")
    dynamodb = client("dynamodb", settings)
    timer = StepFunctionsTimer(client("stepfunctions", settings), settings.state_machine_arn)

    def scope(own: Settings, secrets: Secrets, tenant_id: str | None) -> Scope:
        store = build_store(own, dynamodb)
        ingest = Ingest(
            store,
            timer,
            max_messages=own.max_messages,
            max_buffer_bytes=own.max_buffer_bytes,
            flush_keywords=own.flush_keywords,
            control=store,
            handoff_seconds=own.handoff_seconds,
        )
        return Scope(own, secrets, ingest, tenant_id)

    scopes = PerTenant(settings, scope, build_catalog(settings))
    # Pause and resume act on a conversation's key, whoever's it is: the deployment's store serves every tenant.
    return build_app(scopes, counters, control=build_store(settings, dynamodb))


def build_ai(settings: Settings, secrets: Secrets | None = None) -> AIProvider:
    """The configured AI provider. Imports are deferred: each Lambda loads only the client it uses."""
    if settings.ai_provider == "bedrock":
        from debouncer.adapters.ai_bedrock import BedrockAI, client_config

        if not settings.bedrock_model_id:
            raise ConfigurationError("AI_PROVIDER=bedrock needs BEDROCK_MODEL_ID")
        # The provider's bounded attempts (calls, not retries) and per-attempt timeout are botocore's own.
        bedrock_config = client_config(
            max_attempts=settings.ai_max_attempts, timeout_seconds=settings.ai_timeout_seconds
        )
        bedrock = client("bedrock-runtime", settings, bedrock_config)
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
        secrets = secrets or Secrets(settings)
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
    from debouncer.adapters.ai_echo import EchoAI  # as the others: post_message and reply load no AI code

    return EchoAI(media=settings.ai_media)


def build_senders(settings: Settings, secrets: Secrets | None = None) -> dict[str, ChannelSender]:
    """A real sender for every channel with credentials; the others use the local outbox (on AWS: the DLQ)."""
    # Imported here: only process_message (presence) and reply send anything.
    from debouncer.adapters.outbox import LOCAL_OUTBOX, OutboxSender
    from debouncer.adapters.senders.unconfigured import UnconfiguredSender

    secrets = secrets or Secrets(settings)
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


def build_processors(settings: Settings | None = None) -> PerTenant[Processor]:
    """process_message: a Processor for the deployment and each tenant."""
    settings = settings or Settings()
    dynamodb = client("dynamodb", settings)
    return PerTenant(settings, lambda own, secrets, _: build_processor(own, secrets, dynamodb), build_catalog(settings))


def build_processor(
    settings: Settings | None = None, secrets: Secrets | None = None, dynamodb: Any = None
) -> Processor:
    """process_message: claim + presence + AI (+ the fallback reply when the AI fails for good)."""
    from debouncer.usecases.processing import Processor  # process_message's alone: the other functions skip it

    settings = settings or Settings()
    secrets = secrets or Secrets(settings)
    return Processor(
        build_store(settings, dynamodb),
        build_ai(settings, secrets),
        system_prompt=settings.ai_system_prompt,
        history_turns=settings.ai_history_turns,
        fallback_message=settings.ai_fallback_message,
        presence=build_senders(settings, secrets) if settings.show_typing else None,
        media=build_media_resolver(settings, secrets),
        supersede=settings.supersede_stale_answers,
    )


def build_media_resolver(settings: Settings, secrets: Secrets | None = None) -> MediaResolver | None:
    """Media read after the claim: per-channel sources, the media bucket, the transcriber; None without a bucket
    (media then stays placeholders, as before)."""
    if not settings.media_bucket:
        return None
    # Imported here: post_message and reply never read media, and their cold starts need not load any of this.
    from debouncer.adapters.media_sources import build_media_sources
    from debouncer.adapters.s3 import S3MediaStore
    from debouncer.adapters.transcribers import build_transcriber
    from debouncer.media.resolve import MediaResolver

    secrets = secrets or Secrets(settings)
    store = S3MediaStore(client("s3", settings), settings.media_bucket)
    return MediaResolver(
        build_media_sources(settings, secrets),
        store,
        build_transcriber(settings, secrets, store),
        max_bytes=settings.max_media_bytes,
    )


def build_repliers(settings: Settings | None = None) -> PerTenant[Replier]:
    """reply: a Replier for the deployment and each tenant (its own tokens)."""
    settings = settings or Settings()
    dynamodb = client("dynamodb", settings)
    return PerTenant(settings, lambda own, secrets, _: build_replier(own, secrets, dynamodb), build_catalog(settings))


def build_replier(settings: Settings | None = None, secrets: Secrets | None = None, dynamodb: Any = None) -> Replier:
    """reply: deliver through the channel."""
    from debouncer.usecases.replying import Replier  # reply's alone: the other functions skip it

    settings = settings or Settings()
    secrets = secrets or Secrets(settings)
    return Replier(
        build_store(settings, dynamodb),
        build_senders(settings, secrets),
        supersede=settings.supersede_stale_answers,
    )


def build_redrive(
    *,
    dynamodb: Any,
    sqs: Any,
    stepfunctions: Any,
    table_name: str,
    queue_url: str,
    state_machine_arn: str,
    workflow_type: str | None = None,
    receive_wait_seconds: int = 1,
) -> Redrive:
    """`debouncer redrive` over a deployment's (or the local runtime's) table, DLQ and state machine; the workflow
    type is read from the state machine when not given. Imported here: no Lambda function needs any of it."""
    from debouncer.adapters.dead_letters import SqsDeadLetters
    from debouncer.usecases.redrive import Redrive

    # A redrive reads turns and reopens them: of the store's settings only the table's name matters to those calls.
    store = build_store(Settings.model_construct(table_name=table_name), dynamodb)
    return Redrive(
        SqsDeadLetters(sqs, queue_url, wait_seconds=receive_wait_seconds),
        store,
        StepFunctionsTimer(stepfunctions, state_machine_arn, workflow_type),
    )
