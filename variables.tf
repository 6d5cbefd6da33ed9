# ---------------------------------------------------------------------------------------------------
# Naming, region, tags
# ---------------------------------------------------------------------------------------------------

variable "aws_region" {
  description = "AWS Region to deploy to; null uses the provider's usual sources (AWS_REGION, profile)."
  type        = string
  default     = null

  validation {
    condition     = var.aws_region == null || can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.aws_region))
    error_message = "aws_region must be null or a Region code such as eu-west-1."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name (table, functions, state machine, queue, API, alarms)."
  type        = string
  default     = "chat-debouncer"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-32 characters of a-z, 0-9 and '-', start with a letter and not end with '-'."
  }
}

variable "tags" {
  description = "Tags applied to every resource (provider default_tags)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.tags : length(k) <= 128 && length(v) <= 256 && !startswith(k, "aws:")])
    error_message = "Tag keys must be at most 128 characters and not start with 'aws:'; values at most 256 characters."
  }
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for the table, the DLQ, the log groups and the Lambda environments; null uses AWS managed/owned keys. Its key policy must let those services and roles use it (see the README, Deploy)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN (arn:...:kms:<region>:<account>:key/<id>)."
  }
}

# ---------------------------------------------------------------------------------------------------
# Debounce window (docs/architecture.md): reply at min(last + debounce, first + max_wait).
# ---------------------------------------------------------------------------------------------------

variable "debounce_seconds" {
  description = "Quiet time after the last message of a burst before it is answered. Applied through post_message's environment: an apply changes it in place, new bursts use it at once."
  type        = number
  default     = 10

  validation {
    condition     = var.debounce_seconds >= 1 && var.debounce_seconds <= 3600 && floor(var.debounce_seconds) == var.debounce_seconds
    error_message = "debounce_seconds must be a whole number between 1 and 3600 (Step Functions timestamps have one-second resolution)."
  }
}

variable "max_wait_seconds" {
  description = "Longest a burst waits after its first message, however chatty the user; must be >= debounce_seconds."
  type        = number
  default     = 60

  validation {
    condition     = var.max_wait_seconds >= 1 && var.max_wait_seconds <= 86400 && floor(var.max_wait_seconds) == var.max_wait_seconds
    error_message = "max_wait_seconds must be a whole number between 1 and 86400."
  }
}

variable "max_messages" {
  description = "A burst that reaches this many messages is flushed at once (a claim transaction holds at most 100 items)."
  type        = number
  default     = 50

  validation {
    condition     = var.max_messages >= 1 && var.max_messages <= 95 && floor(var.max_messages) == var.max_messages
    error_message = "max_messages must be a whole number between 1 and 95."
  }
}

variable "flush_keywords" {
  description = "Messages equal to one of these words (case-insensitive) flush the burst at once."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.flush_keywords) <= 50 && alltrue([for k in var.flush_keywords : length(trimspace(k)) > 0 && length(k) <= 64 && !strcontains(k, ",")])
    error_message = "flush_keywords: at most 50 non-blank words of at most 64 characters, without commas."
  }
}

variable "buffer_retention_days" {
  description = "TTL of a conversation's buffer item after its last message, in days."
  type        = number
  default     = 2

  validation {
    condition     = var.buffer_retention_days >= 1 && var.buffer_retention_days <= 30 && floor(var.buffer_retention_days) == var.buffer_retention_days
    error_message = "buffer_retention_days must be a whole number between 1 and 30."
  }
}

variable "history_retention_days" {
  description = "TTL of answered turns (conversation history: personal data), in days."
  type        = number
  default     = 30

  validation {
    condition     = var.history_retention_days >= 1 && var.history_retention_days <= 3650 && floor(var.history_retention_days) == var.history_retention_days
    error_message = "history_retention_days must be a whole number between 1 and 3650."
  }
}

variable "dedupe_retention_days" {
  description = "How long answered message ids are remembered to absorb late redeliveries, in days (WhatsApp redelivers for up to 7 days, so keep >= 8)."
  type        = number
  default     = 8

  validation {
    condition     = var.dedupe_retention_days >= 1 && var.dedupe_retention_days <= 365 && floor(var.dedupe_retention_days) == var.dedupe_retention_days
    error_message = "dedupe_retention_days must be a whole number between 1 and 365."
  }
}

# ---------------------------------------------------------------------------------------------------
# A conversation that moves on while the AI answers, and a human who takes it over
# ---------------------------------------------------------------------------------------------------

variable "supersede_stale_answers" {
  description = "Messages that arrive after a burst was claimed but before any part of its answer was sent replace that answer: it is not sent, and the next burst answers both. false sends every answer as written."
  type        = bool
  default     = true
  nullable    = false

  validation {
    condition     = var.supersede_stale_answers != null
    error_message = "supersede_stale_answers must be true or false."
  }
}

variable "handoff_seconds" {
  description = "How long a human answering from the business inbox (an Instagram echo the product did not send, a WhatsApp Business app echo) pauses the bot for that conversation, in seconds; 0 never pauses on a human echo."
  type        = number
  default     = 1800
  nullable    = false

  validation {
    condition     = var.handoff_seconds >= 0 && var.handoff_seconds <= 2592000 && floor(var.handoff_seconds) == var.handoff_seconds
    error_message = "handoff_seconds must be a whole number between 0 (never pause on a human echo) and 2592000 (30 days)."
  }
}

# ---------------------------------------------------------------------------------------------------
# AI
# ---------------------------------------------------------------------------------------------------

variable "ai_provider" {
  description = "Which AI answers the bursts: echo (offline, deterministic), bedrock (Converse API) or openai (any OpenAI-compatible endpoint)."
  type        = string
  default     = "echo"

  validation {
    condition     = contains(["echo", "bedrock", "openai"], var.ai_provider)
    error_message = "ai_provider must be one of echo, bedrock, openai."
  }
}

variable "ai_system_prompt" {
  description = "System prompt given to the AI with every burst."
  type        = string
  default     = "You are a helpful assistant. Answer the user's messages together, in one reply."

  validation {
    condition     = length(trimspace(var.ai_system_prompt)) > 0 && length(var.ai_system_prompt) <= 2000
    error_message = "ai_system_prompt must be 1-2000 characters (Lambda environments are limited to 4 KB)."
  }
}

variable "history_turns" {
  description = "How many previous turns of the conversation the AI sees."
  type        = number
  default     = 10

  validation {
    condition     = var.history_turns >= 0 && var.history_turns <= 100 && floor(var.history_turns) == var.history_turns
    error_message = "history_turns must be a whole number between 0 and 100."
  }
}

variable "bedrock_model_id" {
  description = "Bedrock model id (or inference profile id such as us.<model>) used when ai_provider = bedrock."
  type        = string
  default     = "anthropic.claude-3-haiku-20240307-v1:0"

  validation {
    condition     = can(regex("^[a-zA-Z0-9._:-]{1,200}$", var.bedrock_model_id))
    error_message = "bedrock_model_id must be a Bedrock model or inference profile id (not an ARN)."
  }
}

variable "openai_base_url" {
  description = "Base URL of the OpenAI-compatible chat-completions endpoint (OpenAI, Ollama, vLLM), used when ai_provider = openai."
  type        = string
  default     = "https://api.openai.com/v1"

  validation {
    condition     = can(regex("^https?://[^\\s]+$", var.openai_base_url))
    error_message = "openai_base_url must be an http(s) URL."
  }
}

variable "openai_model" {
  description = "Model name sent to the OpenAI-compatible endpoint."
  type        = string
  default     = "gpt-4o-mini"

  validation {
    condition     = length(trimspace(var.openai_model)) > 0 && length(var.openai_model) <= 200
    error_message = "openai_model must be 1-200 characters."
  }
}

variable "ai_timeout_seconds" {
  description = "Timeout of one AI request, in seconds."
  type        = number
  default     = 25

  validation {
    condition     = var.ai_timeout_seconds >= 1 && var.ai_timeout_seconds <= 600
    error_message = "ai_timeout_seconds must be between 1 and 600."
  }
}

variable "ai_max_attempts" {
  description = "Attempts per AI request, retries of throttling, 5xx and timeouts included. process_message's timeout must cover them all."
  type        = number
  default     = 2

  validation {
    condition     = var.ai_max_attempts >= 1 && var.ai_max_attempts <= 5 && floor(var.ai_max_attempts) == var.ai_max_attempts
    error_message = "ai_max_attempts must be a whole number between 1 and 5."
  }
}

variable "ai_max_tokens" {
  description = "Upper bound on the length of one AI answer, in tokens."
  type        = number
  default     = 1024

  validation {
    condition     = var.ai_max_tokens >= 1 && var.ai_max_tokens <= 32768 && floor(var.ai_max_tokens) == var.ai_max_tokens
    error_message = "ai_max_tokens must be a whole number between 1 and 32768."
  }
}

variable "ai_temperature" {
  description = "Sampling temperature of the AI's answers (0-2; lower is more deterministic); null leaves the provider's default."
  type        = number
  default     = null

  validation {
    condition     = var.ai_temperature == null ? true : var.ai_temperature >= 0 && var.ai_temperature <= 2
    error_message = "ai_temperature must be null or between 0 and 2."
  }
}

variable "ai_fallback_message" {
  description = "Reply sent when the AI fails for good (the burst still goes to the DLQ); empty sends nothing."
  type        = string
  default     = ""
  nullable    = false

  validation {
    condition     = length(var.ai_fallback_message) <= 1000
    error_message = "ai_fallback_message must be at most 1000 characters (it must fit one Instagram message)."
  }
}

# ---------------------------------------------------------------------------------------------------
# Media in bursts (images, documents, voice notes): fetched by process_message after the claim, kept in the media bucket.
# ---------------------------------------------------------------------------------------------------

variable "media_retention_days" {
  description = "Days fetched media and transcripts stay in the media bucket before its lifecycle rule expires them (personal data; long enough for a burst's retries and the DLQ's redrive)."
  type        = number
  default     = 7

  validation {
    condition     = var.media_retention_days >= 1 && var.media_retention_days <= 365 && floor(var.media_retention_days) == var.media_retention_days
    error_message = "media_retention_days must be a whole number between 1 and 365."
  }
}

variable "max_media_bytes" {
  description = "Largest media item process_message downloads, in bytes (streamed and refused past it; the AI is told it could not be read). The whole item is held in memory: size lambda_memory_size.process_message for it."
  type        = number
  default     = 16777216

  validation {
    condition     = var.max_media_bytes >= 1024 && var.max_media_bytes <= 104857600 && floor(var.max_media_bytes) == var.max_media_bytes
    error_message = "max_media_bytes must be a whole number between 1024 and 104857600 (100 MiB)."
  }
}

variable "media_fetch_timeout_seconds" {
  description = "Timeout of one media download attempt, in seconds."
  type        = number
  default     = 10

  validation {
    condition     = var.media_fetch_timeout_seconds > 0 && var.media_fetch_timeout_seconds <= 120
    error_message = "media_fetch_timeout_seconds must be more than 0 and at most 120."
  }
}

variable "ai_media" {
  description = "Send images and documents to the AI as native content; false gives it a placeholder saying what was sent (voice notes still go through transcribe_provider)."
  type        = bool
  default     = true
  nullable    = false

  validation {
    condition     = var.ai_media != null
    error_message = "ai_media must be true or false."
  }
}

variable "transcribe_provider" {
  description = "How voice notes and audio become text: none (a placeholder), openai (any OpenAI-compatible /audio/transcriptions endpoint) or aws (Amazon Transcribe, reading from the media bucket)."
  type        = string
  default     = "none"

  validation {
    condition     = contains(["none", "openai", "aws"], var.transcribe_provider)
    error_message = "transcribe_provider must be one of none, openai, aws."
  }
}

variable "transcribe_base_url" {
  description = "Base URL of the OpenAI-compatible transcription endpoint (transcribe_provider = openai); empty uses openai_base_url."
  type        = string
  default     = ""
  nullable    = false

  validation {
    condition     = var.transcribe_base_url == "" || can(regex("^https?://[^\\s]+$", var.transcribe_base_url))
    error_message = "transcribe_base_url must be empty or an http(s) URL."
  }
}

variable "transcribe_model" {
  description = "Transcription model sent to the OpenAI-compatible endpoint (transcribe_provider = openai)."
  type        = string
  default     = "whisper-1"

  validation {
    condition     = length(trimspace(var.transcribe_model)) > 0 && length(var.transcribe_model) <= 200
    error_message = "transcribe_model must be 1-200 characters."
  }
}

# ---------------------------------------------------------------------------------------------------
# Channels and secrets: names of SSM SecureString parameters (or Secrets Manager ARNs) only, never the values.
# ---------------------------------------------------------------------------------------------------

variable "secret_parameter_names" {
  description = "Where each secret lives: an SSM SecureString parameter name (/chat-debouncer/meta_app_secret) or a Secrets Manager secret ARN. Never put secret values here: Terraform state would keep them. Unset ones are not granted; a channel without its token replies nowhere. transcribe_api_key (transcribe_provider = openai) falls back to openai_api_key."
  type = object({
    meta_app_secret        = optional(string)
    meta_verify_token      = optional(string)
    telegram_secret_token  = optional(string)
    generic_secret         = optional(string)
    whatsapp_access_token  = optional(string)
    telegram_bot_token     = optional(string)
    instagram_access_token = optional(string)
    openai_api_key         = optional(string)
    transcribe_api_key     = optional(string)
  })
  default  = {}
  nullable = false

  validation {
    condition     = alltrue([for k, v in var.secret_parameter_names : v == null || (length(coalesce(v, "x")) <= 1011 && can(regex("^(/[a-zA-Z0-9_.\\-/]+|arn:aws[a-zA-Z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[a-zA-Z0-9/_+=.@-]+-[a-zA-Z0-9]{6})$", v)))])
    error_message = "Each secret_parameter_names entry must be an SSM parameter name starting with '/' (e.g. /chat-debouncer/meta_app_secret) or a complete Secrets Manager secret ARN, ending in the six characters AWS appends to the name (…:secret:name-AbCdEf: the IAM grant must match the secret's real ARN), not a secret value."
  }
}

variable "secrets_kms_key_arn" {
  description = "KMS key that encrypts the SecureString parameters; null allows any key of this account, and only through SSM (kms:ViaService)."
  type        = string
  default     = null

  validation {
    condition     = var.secrets_kms_key_arn == null || can(regex("^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.secrets_kms_key_arn))
    error_message = "secrets_kms_key_arn must be null or a KMS key ARN."
  }
}

variable "telegram_bot_id" {
  description = "Account part of Telegram conversation keys (the numeric id before ':' in the bot token; not secret)."
  type        = string
  default     = "bot"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.telegram_bot_id))
    error_message = "telegram_bot_id must be 1-64 characters of letters, digits, '_' and '-' (never the whole token)."
  }
}

variable "whatsapp_api_version" {
  description = "Graph API version used to send WhatsApp replies."
  type        = string
  default     = "v25.0"

  validation {
    condition     = can(regex("^v[0-9]+\\.[0-9]+$", var.whatsapp_api_version))
    error_message = "whatsapp_api_version must look like v25.0."
  }
}

variable "whatsapp_phone_number_id" {
  description = "WhatsApp phone number id replies are sent from when a payload carries none (not secret)."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^[0-9]{0,32}$", var.whatsapp_phone_number_id))
    error_message = "whatsapp_phone_number_id must be empty or digits."
  }
}

variable "instagram_api_version" {
  description = "Instagram Graph API version used to send Instagram replies."
  type        = string
  default     = "v25.0"

  validation {
    condition     = can(regex("^v[0-9]+\\.[0-9]+$", var.instagram_api_version))
    error_message = "instagram_api_version must look like v25.0."
  }
}

variable "show_typing" {
  description = "Once a burst is claimed, mark it read and show a typing indicator (WhatsApp, Telegram, Instagram) while the AI answers."
  type        = bool
  default     = false
  nullable    = false

  validation {
    condition     = var.show_typing != null
    error_message = "show_typing must be true or false."
  }
}

variable "generic_callback_url" {
  description = "URL the reply function POSTs answers of the generic channel to; empty disables generic replies."
  type        = string
  default     = ""

  validation {
    condition     = var.generic_callback_url == "" || can(regex("^https://[^\\s]+$", var.generic_callback_url))
    error_message = "generic_callback_url must be empty or an https:// URL."
  }
}

# ---------------------------------------------------------------------------------------------------
# Tenants: many bots in one deployment. Each tenant is one item of the table (main.tf), read by every function with a
# short cache: changing one tenant changes its item only, never a function.
# ---------------------------------------------------------------------------------------------------

variable "tenants" {
  description = "Bots served by this deployment, each found by the channel account its messages arrive for (WhatsApp phone_number_id, Telegram bot id, Instagram business account id, generic account). settings override the deployment's values for that tenant only (unset ones are the deployment's); secrets name where the tenant's own secrets live, by reference only: an SSM SecureString parameter name or a complete Secrets Manager secret ARN, never a value. Each function is granted the named secrets it uses, and no others. Empty: one bot, configured by the other variables."
  type = list(object({
    id      = string
    channel = string
    account = string
    settings = optional(object({
      debounce_seconds        = optional(number)
      max_wait_seconds        = optional(number)
      max_messages            = optional(number)
      flush_keywords          = optional(list(string))
      supersede_stale_answers = optional(bool)
      handoff_seconds         = optional(number)
      ai_system_prompt        = optional(string)
      ai_history_turns        = optional(number)
      ai_fallback_message     = optional(string)
      ai_media                = optional(bool)
      openai_model            = optional(string)
      bedrock_model_id        = optional(string)
      transcribe_model        = optional(string)
      show_typing             = optional(bool)
    }), {})
    secrets = optional(map(string), {})
  }))
  default  = []
  nullable = false

  validation {
    condition     = length(var.tenants) <= 1000
    error_message = "tenants: at most 1000 tenants."
  }

  validation {
    condition     = alltrue([for t in var.tenants : can(regex("^[a-z0-9][a-z0-9_-]{0,62}$", t.id))])
    error_message = "Every tenant id must be 1-63 characters of a-z, 0-9, '_' and '-', starting with a letter or a digit; not ${join(", ", [for t in var.tenants : jsonencode(t.id) if !can(regex("^[a-z0-9][a-z0-9_-]{0,62}$", t.id))])}."
  }

  validation {
    condition     = length(distinct([for t in var.tenants : jsonencode(t.id)])) == length(var.tenants)
    error_message = "Tenant ids must be unique; repeated: ${join(", ", distinct([for t in var.tenants : jsonencode(t.id) if length([for u in var.tenants : u if u.id == t.id]) > 1]))}."
  }

  validation {
    condition     = alltrue([for t in var.tenants : try(contains(["whatsapp", "telegram", "instagram", "generic"], t.channel), false)])
    error_message = "Every tenant's channel must be one of whatsapp, telegram, instagram, generic; not in tenants ${join(", ", [for t in var.tenants : jsonencode(t.id) if !try(contains(["whatsapp", "telegram", "instagram", "generic"], t.channel), false)])}."
  }

  validation {
    condition     = alltrue([for t in var.tenants : can(regex("^[A-Za-z0-9_.:-]{1,128}$", t.account))])
    error_message = "Every tenant's account must be 1-128 characters of letters, digits, '_', '.', ':' and '-' (the channel's account id); not in tenants ${join(", ", [for t in var.tenants : jsonencode(t.id) if !can(regex("^[A-Za-z0-9_.:-]{1,128}$", t.account))])}."
  }

  validation {
    condition     = length(distinct([for t in var.tenants : jsonencode([t.channel, t.account])])) == length(var.tenants)
    error_message = "Each channel account belongs to one tenant at most; shared by tenants: ${join("; ", distinct([for t in var.tenants : join(", ", [for u in var.tenants : jsonencode(u.id) if u.channel == t.channel && u.account == t.account]) if length([for u in var.tenants : u if u.channel == t.channel && u.account == t.account]) > 1]))}."
  }

  validation {
    condition     = alltrue([for t in var.tenants : length(setsubtract(keys(t.secrets), ["meta_app_secret", "meta_verify_token", "telegram_secret_token", "generic_secret", "whatsapp_access_token", "telegram_bot_token", "instagram_access_token", "openai_api_key", "transcribe_api_key"])) == 0])
    error_message = "A tenant's secrets may only be meta_app_secret, meta_verify_token, telegram_secret_token, generic_secret, whatsapp_access_token, telegram_bot_token, instagram_access_token, openai_api_key, transcribe_api_key; unknown: ${join(", ", flatten([for t in var.tenants : [for k in setsubtract(keys(t.secrets), ["meta_app_secret", "meta_verify_token", "telegram_secret_token", "generic_secret", "whatsapp_access_token", "telegram_bot_token", "instagram_access_token", "openai_api_key", "transcribe_api_key"]) : "${jsonencode(k)} (tenant ${jsonencode(t.id)})"]]))}."
  }

  # References only: an SSM parameter name (a hierarchical one starts with '/'), or a complete Secrets Manager ARN,
  # ending in the six characters AWS appends to the name, since the IAM grant names that exact ARN. At most 1011
  # characters (SSM's limit; RE2 counts no repetition past 1000, so the length is checked apart).
  validation {
    condition     = alltrue(flatten([for t in var.tenants : [for k, v in t.secrets : (can(regex("^(/[A-Za-z0-9_.\\-/]+|[A-Za-z0-9_.-]+|arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[a-zA-Z0-9/_+=.@-]+-[a-zA-Z0-9]{6})$", v)) && length(coalesce(v, "-")) <= 1011)]]))
    error_message = "Each tenant secret must be a reference, never a value: an SSM parameter name of at most 1011 characters (/chat-debouncer/clinic-a/whatsapp_access_token) or a complete Secrets Manager secret ARN (…:secret:name-AbCdEf); not ${join(", ", flatten([for t in var.tenants : [for k, v in t.secrets : "${jsonencode(k)} of tenant ${jsonencode(t.id)}" if !(can(regex("^(/[A-Za-z0-9_.\\-/]+|[A-Za-z0-9_.-]+|arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[a-zA-Z0-9/_+=.@-]+-[a-zA-Z0-9]{6})$", v)) && length(coalesce(v, "-")) <= 1011)]]))}."
  }

  # The settings' ranges are the root variables' (debounce_seconds, max_wait_seconds, ...); max_wait_seconds >=
  # debounce_seconds and Express's time limit take the deployment's values too: main.tf checks them.
  validation {
    condition     = alltrue([for t in var.tenants : t.settings.debounce_seconds == null ? true : t.settings.debounce_seconds >= 1 && t.settings.debounce_seconds <= 3600 && floor(t.settings.debounce_seconds) == t.settings.debounce_seconds])
    error_message = "A tenant's settings.debounce_seconds must be a whole number between 1 and 3600; not in tenants ${join(", ", [for t in var.tenants : jsonencode(t.id) if(t.settings.debounce_seconds == null ? false : !(t.settings.debounce_seconds >= 1 && t.settings.debounce_seconds <= 3600 && floor(t.settings.debounce_seconds) == t.settings.debounce_seconds))])}."
  }

  validation {
    condition     = alltrue([for t in var.tenants : t.settings.max_wait_seconds == null ? true : t.settings.max_wait_seconds >= 1 && t.settings.max_wait_seconds <= 86400 && floor(t.settings.max_wait_seconds) == t.settings.max_wait_seconds])
    error_message = "A tenant's settings.max_wait_seconds must be a whole number between 1 and 86400; not in tenants ${join(", ", [for t in var.tenants : jsonencode(t.id) if(t.settings.max_wait_seconds == null ? false : !(t.settings.max_wait_seconds >= 1 && t.settings.max_wait_seconds <= 86400 && floor(t.settings.max_wait_seconds) == t.settings.max_wait_seconds))])}."
  }

  validation {
    condition     = alltrue([for t in var.tenants : t.settings.max_messages == null ? true : t.settings.max_messages >= 1 && t.settings.max_messages <= 95 && floor(t.settings.max_messages) == t.settings.max_messages])
    error_message = "A tenant's settings.max_messages must be a whole number between 1 and 95; not in tenants ${join(", ", [for t in var.tenants : jsonencode(t.id) if(t.settings.max_messages == null ? false : !(t.settings.max_messages >= 1 && t.settings.max_messages <= 95 && floor(t.settings.max_messages) == t.settings.max_messages))])}."
  }

  validation {
    condition     = alltrue([for t in var.tenants : t.settings.handoff_seconds == null ? true : t.settings.handoff_seconds >= 0 && t.settings.handoff_seconds <= 2592000 && floor(t.settings.handoff_seconds) == t.settings.handoff_seconds])
    error_message = "A tenant's settings.handoff_seconds must be a whole number between 0 and 2592000 (30 days); not in tenants ${join(", ", [for t in var.tenants : jsonencode(t.id) if(t.settings.handoff_seconds == null ? false : !(t.settings.handoff_seconds >= 0 && t.settings.handoff_seconds <= 2592000 && floor(t.settings.handoff_seconds) == t.settings.handoff_seconds))])}."
  }

  validation {
    condition     = alltrue([for t in var.tenants : t.settings.ai_history_turns == null ? true : t.settings.ai_history_turns >= 0 && t.settings.ai_history_turns <= 100 && floor(t.settings.ai_history_turns) == t.settings.ai_history_turns])
    error_message = "A tenant's settings.ai_history_turns must be a whole number between 0 and 100; not in tenants ${join(", ", [for t in var.tenants : jsonencode(t.id) if(t.settings.ai_history_turns == null ? false : !(t.settings.ai_history_turns >= 0 && t.settings.ai_history_turns <= 100 && floor(t.settings.ai_history_turns) == t.settings.ai_history_turns))])}."
  }

  validation {
    condition     = alltrue([for t in var.tenants : t.settings.flush_keywords == null ? true : length(t.settings.flush_keywords) <= 50 && alltrue([for k in t.settings.flush_keywords : length(trimspace(k)) > 0 && length(k) <= 64 && !strcontains(k, ",")])])
    error_message = "A tenant's settings.flush_keywords must be at most 50 non-blank words of at most 64 characters, without commas; not in tenants ${join(", ", [for t in var.tenants : jsonencode(t.id) if(t.settings.flush_keywords == null ? false : !(length(t.settings.flush_keywords) <= 50 && alltrue([for k in t.settings.flush_keywords : length(trimspace(k)) > 0 && length(k) <= 64 && !strcontains(k, ",")])))])}."
  }

  # Items are not Lambda environments: a tenant's prompt may be longer than ai_system_prompt's 2000 characters.
  validation {
    condition     = alltrue([for t in var.tenants : t.settings.ai_system_prompt == null ? true : length(trimspace(t.settings.ai_system_prompt)) > 0 && length(t.settings.ai_system_prompt) <= 16384])
    error_message = "A tenant's settings.ai_system_prompt must be 1-16384 characters, not blank; not in tenants ${join(", ", [for t in var.tenants : jsonencode(t.id) if(t.settings.ai_system_prompt == null ? false : !(length(trimspace(t.settings.ai_system_prompt)) > 0 && length(t.settings.ai_system_prompt) <= 16384))])}."
  }

  validation {
    condition     = alltrue([for t in var.tenants : t.settings.ai_fallback_message == null ? true : length(t.settings.ai_fallback_message) <= 1000])
    error_message = "A tenant's settings.ai_fallback_message must be at most 1000 characters (it must fit one Instagram message); not in tenants ${join(", ", [for t in var.tenants : jsonencode(t.id) if(t.settings.ai_fallback_message == null ? false : length(t.settings.ai_fallback_message) > 1000)])}."
  }

  validation {
    condition     = alltrue([for t in var.tenants : t.settings.openai_model == null ? true : length(trimspace(t.settings.openai_model)) > 0 && length(t.settings.openai_model) <= 200])
    error_message = "A tenant's settings.openai_model must be 1-200 characters; not in tenants ${join(", ", [for t in var.tenants : jsonencode(t.id) if(t.settings.openai_model == null ? false : !(length(trimspace(t.settings.openai_model)) > 0 && length(t.settings.openai_model) <= 200))])}."
  }

  validation {
    condition     = alltrue([for t in var.tenants : t.settings.bedrock_model_id == null ? true : can(regex("^[a-zA-Z0-9._:-]{1,200}$", t.settings.bedrock_model_id))])
    error_message = "A tenant's settings.bedrock_model_id must be a Bedrock model or inference profile id (not an ARN); not in tenants ${join(", ", [for t in var.tenants : jsonencode(t.id) if(t.settings.bedrock_model_id == null ? false : !can(regex("^[a-zA-Z0-9._:-]{1,200}$", t.settings.bedrock_model_id)))])}."
  }

  validation {
    condition     = alltrue([for t in var.tenants : t.settings.transcribe_model == null ? true : length(trimspace(t.settings.transcribe_model)) > 0 && length(t.settings.transcribe_model) <= 200])
    error_message = "A tenant's settings.transcribe_model must be 1-200 characters; not in tenants ${join(", ", [for t in var.tenants : jsonencode(t.id) if(t.settings.transcribe_model == null ? false : !(length(trimspace(t.settings.transcribe_model)) > 0 && length(t.settings.transcribe_model) <= 200))])}."
  }
}

# ---------------------------------------------------------------------------------------------------
# Lambda
# ---------------------------------------------------------------------------------------------------

variable "lambda_architecture" {
  description = "Instruction set of the functions: Terraform deploys build/<lambda_architecture>/*.zip, which `make package ARCH=<lambda_architecture>` builds (plan stops when they are missing)."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "lambda_architecture must be arm64 or x86_64."
  }
}

variable "powertools_layer_arn" {
  description = "Optional Powertools for AWS Lambda (Python) layer version ARN for the chosen architecture; null relies on the copy bundled in the package."
  type        = string
  default     = null

  validation {
    condition     = var.powertools_layer_arn == null || can(regex("^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:[0-9]{12}:layer:[a-zA-Z0-9_-]+:[0-9]+$", var.powertools_layer_arn))
    error_message = "powertools_layer_arn must be null or a layer version ARN (arn:...:layer:<name>:<version>)."
  }
}

variable "lambda_memory_size" {
  description = "Memory in MB of each function."
  type = object({
    post_message    = optional(number, 256)
    process_message = optional(number, 512)
    reply           = optional(number, 256)
  })
  default  = {}
  nullable = false

  validation {
    condition     = alltrue([for k, v in var.lambda_memory_size : v >= 128 && v <= 10240 && floor(v) == v])
    error_message = "Every lambda_memory_size entry must be a whole number between 128 and 10240."
  }
}

variable "lambda_timeout" {
  description = "Timeout in seconds of each function (process_message waits for the AI)."
  type = object({
    post_message    = optional(number, 10)
    process_message = optional(number, 60)
    reply           = optional(number, 30)
  })
  default  = {}
  nullable = false

  validation {
    condition     = alltrue([for k, v in var.lambda_timeout : v >= 1 && v <= 900 && floor(v) == v])
    error_message = "Every lambda_timeout entry must be a whole number between 1 and 900."
  }

  validation {
    condition     = var.lambda_timeout.post_message <= 29
    error_message = "lambda_timeout.post_message must be <= 29: webhooks are acknowledged within API Gateway's 30 s."
  }
}

variable "lambda_reserved_concurrency" {
  description = "Reserved concurrency of each function; -1 leaves it unreserved."
  type = object({
    post_message    = optional(number, -1)
    process_message = optional(number, -1)
    reply           = optional(number, -1)
  })
  default  = {}
  nullable = false

  validation {
    condition     = alltrue([for k, v in var.lambda_reserved_concurrency : v == -1 || (v >= 1 && floor(v) == v)])
    error_message = "Every lambda_reserved_concurrency entry must be -1 (unreserved) or a whole number >= 1."
  }
}

variable "snap_start" {
  description = "Lambda SnapStart for the three functions: each publishes a version per change and is invoked through its `live` alias, restored from a snapshot of its initialised environment instead of a cold init. Billed per GB-second cached and per GB restored (README, SnapStart); not with provisioned concurrency."
  type        = bool
  default     = false
  nullable    = false

  validation {
    condition     = var.snap_start != null
    error_message = "snap_start must be true or false."
  }
}

variable "log_level" {
  description = "Application log level of the functions (Powertools LOG_LEVEL)."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], var.log_level)
    error_message = "log_level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL."
  }
}

variable "metrics_namespace" {
  description = "CloudWatch metrics namespace of the functions (POWERTOOLS_METRICS_NAMESPACE)."
  type        = string
  default     = "ChatDebouncer"

  validation {
    condition     = can(regex("^[a-zA-Z0-9._/#:-]{1,255}$", var.metrics_namespace)) && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace must be 1-255 valid characters and not start with AWS/."
  }
}

variable "log_retention_days" {
  description = "Retention of every log group (functions, state machine, API access logs), in days; one of the values CloudWatch Logs accepts."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

# ---------------------------------------------------------------------------------------------------
# API, state machine, queue, table, alarms
# ---------------------------------------------------------------------------------------------------

variable "api_throttling_burst_limit" {
  description = "HTTP API stage throttling: burst (requests)."
  type        = number
  default     = 200

  validation {
    condition     = var.api_throttling_burst_limit >= 0 && var.api_throttling_burst_limit <= 5000 && floor(var.api_throttling_burst_limit) == var.api_throttling_burst_limit
    error_message = "api_throttling_burst_limit must be a whole number between 0 and 5000."
  }
}

variable "api_throttling_rate_limit" {
  description = "HTTP API stage throttling: steady rate (requests per second)."
  type        = number
  default     = 100

  validation {
    condition     = var.api_throttling_rate_limit >= 0 && var.api_throttling_rate_limit <= 10000
    error_message = "api_throttling_rate_limit must be between 0 and 10000."
  }
}

variable "state_machine_log_level" {
  description = "Execution history events the state machine logs to CloudWatch Logs (with EXPRESS, the only execution history there is: not OFF)."
  type        = string
  default     = "ERROR"

  validation {
    condition     = contains(["ALL", "ERROR", "FATAL", "OFF"], var.state_machine_log_level)
    error_message = "state_machine_log_level must be one of ALL, ERROR, FATAL, OFF."
  }
}

variable "workflow_type" {
  description = "Step Functions workflow type of the debounce timer. STANDARD: exactly once, billed per state transition. EXPRESS: billed per execution and duration (a fraction of the cost), at least once (duplicates are absorbed by the burst's conditional claim), at most 5 minutes: max_wait_seconds, lambda_timeout.process_message, lambda_timeout.reply and the retry delays must fit (a precondition checks)."
  type        = string
  default     = "EXPRESS"

  validation {
    condition     = contains(["STANDARD", "EXPRESS"], var.workflow_type)
    error_message = "workflow_type must be STANDARD or EXPRESS."
  }
}

variable "state_machine_log_execution_data" {
  description = "Also log each execution's input and state output (message text: personal data). Express keeps no history but these logs."
  type        = bool
  default     = false
  nullable    = false

  validation {
    condition     = var.state_machine_log_execution_data != null
    error_message = "state_machine_log_execution_data must be true or false."
  }
}

variable "dead_letter_retention_days" {
  description = "How long dead-lettered bursts stay on the DLQ, in days (SQS maximum: 14)."
  type        = number
  default     = 14

  validation {
    condition     = var.dead_letter_retention_days >= 1 && var.dead_letter_retention_days <= 14 && floor(var.dead_letter_retention_days) == var.dead_letter_retention_days
    error_message = "dead_letter_retention_days must be a whole number between 1 and 14."
  }
}

variable "table_deletion_protection" {
  description = "Protect the DynamoDB table against deletion; set false (and apply) before terraform destroy."
  type        = bool
  default     = true
  nullable    = false

  validation {
    condition     = var.table_deletion_protection != null
    error_message = "table_deletion_protection must be true or false."
  }
}

variable "alarm_sns_topic_arn" {
  description = "SNS topic notified by the alarms; null creates them without actions."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_sns_topic_arn == null || can(regex("^arn:aws[a-zA-Z-]*:sns:[a-z0-9-]+:[0-9]{12}:[a-zA-Z0-9_.-]+$", var.alarm_sns_topic_arn))
    error_message = "alarm_sns_topic_arn must be null or an SNS topic ARN."
  }
}

variable "create_dashboard" {
  description = "Create the CloudWatch dashboard (alarms, the product's metrics, the AWS services'; the dashboard_url output). Beyond an account's first three dashboards, each costs a monthly fee: false creates none."
  type        = bool
  default     = true
  nullable    = false

  validation {
    condition     = var.create_dashboard != null
    error_message = "create_dashboard must be true or false."
  }
}
