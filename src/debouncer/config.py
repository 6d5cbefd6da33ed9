"""One settings model: environment variables locally and in Lambda (set by Terraform)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from debouncer.workflow import EXPRESS_MAX_SECONDS, WorkflowType, express_seconds_needed

DAY = 86_400

# The secrets a deployment (or a tenant, debouncer.tenants) may hold. Here rather than with the tenants' models, so
# reading a secret (debouncer.adapters.secrets) loads no tenants code where there are no tenants.
SecretName = Literal[
    "meta_app_secret",
    "meta_verify_token",
    "telegram_secret_token",
    "generic_secret",
    "whatsapp_access_token",
    "telegram_bot_token",
    "instagram_access_token",
    "openai_api_key",
    "transcribe_api_key",
]


class Settings(BaseSettings):
    """Every tunable of the pipeline, built once per process and passed in; the domain never reads os.environ."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    # Debounce window (docs/architecture.md): reply at min(last + debounce, first + max_wait).
    debounce_seconds: int = Field(default=10, ge=1, le=3600)
    max_wait_seconds: int = Field(default=60, ge=1, le=86_400)
    max_messages: int = Field(
        default=50, ge=1, le=95, description="early flush; a claim transaction holds <= 100 items"
    )
    max_buffer_bytes: int = Field(default=192 * 1024, ge=1024, le=256 * 1024, description="early flush on size")
    flush_keywords: Annotated[tuple[str, ...], NoDecode] = ()

    # A conversation keeps moving while the AI thinks (README, Answering the conversation as it is now).
    supersede_stale_answers: bool = Field(
        default=True, description="messages that arrive before an answer's first part leaves replace that answer"
    )
    handoff_seconds: int = Field(
        default=1800, ge=0, le=30 * DAY, description="a human answering in the business inbox pauses the bot; 0: never"
    )

    # The timer's workflow type (Terraform's workflow_type). An Express execution lives at most 5 minutes, so the
    # window, every full-length attempt of each function (their timeouts: Terraform's lambda_timeout; locally, the
    # emulated functions' limits), the wait for another run's reply lease and every retry delay of the state machine
    # must fit in it (debouncer.workflow.express_seconds_needed).
    workflow_type: WorkflowType = "EXPRESS"  # the benchmark's choice: README, Choosing a workflow type
    process_message_timeout_seconds: int = Field(default=60, ge=1, le=900)
    reply_timeout_seconds: int = Field(default=30, ge=1, le=900)

    # Where things live.
    aws_region: str = Field(default="us-east-1", alias="AWS_REGION")
    table_name: str = "chat-debouncer"
    state_machine_arn: str = ""

    # Personal data does not linger: everything we store carries a TTL.
    buffer_ttl_seconds: int = Field(default=2 * DAY, ge=3600)
    history_ttl_seconds: int = Field(default=30 * DAY, ge=3600)
    dedupe_ttl_seconds: int = Field(default=8 * DAY, ge=3600, description="WhatsApp redelivers for up to 7 days")

    # AI.
    ai_provider: Literal["echo", "bedrock", "openai"] = "echo"
    ai_system_prompt: str = "You are a helpful assistant. Answer the user's messages together, in one reply."
    ai_history_turns: int = Field(default=10, ge=0, le=100)
    ai_timeout_seconds: float = Field(default=25, gt=0, le=600, description="per attempt")
    ai_max_attempts: int = Field(default=2, ge=1, le=5, description="the provider's own bounded retries")
    ai_max_tokens: int = Field(default=1024, ge=1, le=32_768)
    ai_temperature: float | None = Field(default=None, ge=0, le=2)
    ai_fallback_message: str = Field(default="", description="sent when the AI fails for good; empty: none")
    bedrock_model_id: str = ""
    openai_base_url: str = ""
    openai_model: str = ""

    # Media inside a burst (fetched by process_message after the claim, stored once in the media bucket).
    media_bucket: str = Field(default="", description="S3 bucket of fetched media; empty: media stays placeholders")
    max_media_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024, description="per item")
    media_fetch_timeout_seconds: float = Field(default=10, gt=0, le=120, description="per download attempt")
    media_allow_loopback: bool = Field(
        default=False, description="generic media URLs may be http on loopback (the local runtime's fakes only)"
    )
    ai_media: bool = Field(default=True, description="images and documents go to the AI as native content")
    transcribe_provider: Literal["none", "openai", "aws"] = "none"
    transcribe_base_url: str = Field(
        default="", description="OpenAI-compatible /audio/transcriptions; default: OPENAI_BASE_URL"
    )
    transcribe_model: str = "whisper-1"

    # Channels: a channel whose token is configured sends for real; the others write to the local outbox.
    whatsapp_api_base_url: str = "https://graph.facebook.com"
    whatsapp_api_version: str = "v25.0"
    whatsapp_phone_number_id: str = Field(default="", description="used when the payload carries none")
    telegram_api_base_url: str = "https://api.telegram.org"
    instagram_api_base_url: str = "https://graph.instagram.com"
    instagram_api_version: str = "v25.0"
    generic_callback_url: str = ""
    show_typing: bool = Field(default=False, description="mark the burst read and show typing once it is claimed")

    # Secrets: values locally (env), SSM parameter names on AWS (never the values in Terraform).
    secrets_source: Literal["env", "ssm"] = "env"
    meta_app_secret: SecretStr | None = None
    meta_verify_token: SecretStr | None = None
    telegram_secret_token: SecretStr | None = None
    generic_secret: SecretStr | None = None
    meta_app_secret_param: str = ""
    meta_verify_token_param: str = ""
    telegram_secret_token_param: str = ""
    generic_secret_param: str = ""
    whatsapp_access_token: SecretStr | None = None
    telegram_bot_token: SecretStr | None = None
    instagram_access_token: SecretStr | None = None
    openai_api_key: SecretStr | None = None
    transcribe_api_key: SecretStr | None = Field(default=None, description="default: the OpenAI API key")
    whatsapp_access_token_param: str = ""
    telegram_bot_token_param: str = ""
    instagram_access_token_param: str = ""
    openai_api_key_param: str = ""
    transcribe_api_key_param: str = ""
    # The admin API's bearer token, locally (debouncer serve defaults it to local-admin-token). On AWS it stays unset:
    # API Gateway authorizes the admin routes with IAM (SigV4), and no shared secret exists.
    admin_token: SecretStr | None = None
    telegram_bot_id: str = Field(default="bot", description="account part of Telegram conversation keys")

    max_body_bytes: int = 256 * 1024

    # Tenants (debouncer.tenants): the functions read them from the table when there are some (Terraform sets it when
    # its `tenants` variable is not empty; the local runtime when TENANTS_FILE names a file, which it loads there).
    tenants_enabled: bool = False
    tenants_file: str = Field(default="", description="local runtime: the tenants file to load into the table")

    @model_validator(mode="before")
    @classmethod
    def _split_keywords(cls, data: object) -> object:
        if isinstance(data, dict):
            for key in ("flush_keywords", "FLUSH_KEYWORDS"):
                raw = data.get(key)
                if isinstance(raw, str):
                    data[key] = tuple(k.strip().lower() for k in raw.split(",") if k.strip())
        return data

    @model_validator(mode="after")
    def _check_window(self) -> Settings:
        if self.max_wait_seconds < self.debounce_seconds:
            raise ValueError("max_wait_seconds must be >= debounce_seconds")
        if self.workflow_type == "EXPRESS":
            needed = express_seconds_needed(
                self.max_wait_seconds, self.process_message_timeout_seconds, self.reply_timeout_seconds
            )
            if needed > EXPRESS_MAX_SECONDS:
                raise ValueError(
                    f"WORKFLOW_TYPE=EXPRESS: one execution may need {needed} s (max_wait_seconds, "
                    "process_message_timeout_seconds, reply_timeout_seconds twice: its attempt and a reply lease "
                    "to wait out, every retry delay of the state machine), "
                    f"more than Express's {EXPRESS_MAX_SECONDS} s: shorten them, or use STANDARD"
                )
        return self
