# chat-debouncer on AWS: API Gateway -> post_message -> DynamoDB buffer; Step Functions waits out the
# debounce window and hands each burst to process_message, then reply. See docs/architecture.md and the README (Deploy).

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = merge({ Application = "chat-debouncer" }, var.tags)
  }
}

data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

data "aws_partition" "current" {}

locals {
  # The table key schema has one source, shared with the local runtime: never retype it here.
  table_schema = jsondecode(file("${path.module}/schemas/dynamodb-table.json"))
  # So do the state machine's values per workflow type (retry budget, time limit).
  workflow = jsondecode(file("${path.module}/statemachines/workflow_types.json"))[var.workflow_type]
  # The longest one execution can run (src/debouncer/workflow.py, express_seconds_needed, is the same rule): the whole
  # window; every full-length attempt of each function (the first, and each retry after a timeout); the wait for a
  # duplicate run's reply lease (one reply timeout and the extra); every retry delay; overhead.
  full_length_attempts_seconds = (var.lambda_timeout.process_message + var.lambda_timeout.reply) * (1 + local.workflow.template.timeout_retry_max_attempts)
  reply_lease_wait_seconds     = var.lambda_timeout.reply + local.workflow.reply_lease_wait_extra_seconds
  execution_seconds_needed     = var.max_wait_seconds + local.full_length_attempts_seconds + local.reply_lease_wait_seconds + local.workflow.retry_budget_seconds + local.workflow.overhead_seconds

  # Tenants (many bots in one deployment): one item each in the table, under one partition the functions Query
  # (debouncer.adapters.tenant_catalog, TENANTS_PK). An entry holds the settings a tenant sets, never a null, and
  # its secrets by reference; the code validates it with debouncer.tenants.Tenant (extra keys forbidden).
  tenants_partition = "tenants"
  tenants           = { for t in var.tenants : t.id => t }
  tenant_entries = {
    for id, t in local.tenants : id => {
      id       = t.id
      channel  = t.channel
      account  = t.account
      settings = { for k, v in t.settings : k => v if v != null }
      secrets  = t.secrets
    }
  }
  # A tenant's window is its own where it sets one, the deployment's otherwise: both rules above hold for it too.
  tenant_windows = {
    for id, t in local.tenants : id => {
      debounce_seconds = coalesce(t.settings.debounce_seconds, var.debounce_seconds)
      max_wait_seconds = coalesce(t.settings.max_wait_seconds, var.max_wait_seconds)
    }
  }
  tenant_execution_seconds_needed = {
    for id, w in local.tenant_windows : id => w.max_wait_seconds + local.full_length_attempts_seconds + local.reply_lease_wait_seconds + local.workflow.retry_budget_seconds + local.workflow.overhead_seconds
  }
  tenants_over_execution_limit       = [for id, s in local.tenant_execution_seconds_needed : id if s > local.workflow.max_execution_seconds]
  tenants_waiting_less_than_debounce = [for id, w in local.tenant_windows : id if w.max_wait_seconds < w.debounce_seconds]

  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region
  partition  = data.aws_partition.current.partition
  dns_suffix = data.aws_partition.current.dns_suffix
  # The AWS Management Console of each partition that has a public one (the dashboard_url output).
  console_hosts = {
    aws          = "${local.region}.console.aws.amazon.com"
    "aws-cn"     = "console.amazonaws.cn"
    "aws-us-gov" = "console.amazonaws-us-gov.com"
  }

  names = {
    table             = "${var.name_prefix}-conversations"
    state_machine     = "${var.name_prefix}-debounce"
    dead_letter_queue = "${var.name_prefix}-dlq"
    api               = "${var.name_prefix}-webhooks"
    # Bucket names are global across accounts and Regions (a precondition checks S3's 63 characters).
    media_bucket = "${var.name_prefix}-media-${local.account_id}-${local.region}"
  }

  # One Lambda per handler: lambda/<key>/handler.py, packaged by `make package ARCH=<lambda_architecture>` into
  # build/<lambda_architecture>/<key>.zip.
  lambda_functions = {
    post_message = {
      description = "Webhook intake: verifies, normalizes and buffers messages; starts one execution per burst."
    }
    process_message = {
      description = "Claims a burst once, concatenates it and asks the AI."
    }
    reply = {
      description = "Sends the recorded answer through the conversation's channel."
    }
  }

  function_names = { for k, f in local.lambda_functions : k => "${var.name_prefix}-${replace(k, "_", "-")}" }

  # The operators' admin API, served by post_message like the webhooks but authorized by IAM at the gateway (SigV4):
  # no shared secret exists on AWS. Explicit methods: a wrong one under /admin gets API Gateway's 404, never the code.
  admin_route_keys = [
    "POST /admin/conversations/pause",
    "POST /admin/conversations/resume",
    "GET /admin/conversations/status",
  ]

  # Static ARNs built from names: post_message needs the state machine's ARN, and the state machine
  # needs the functions, so the state machine's ARN is never read from the resource (no cycle).
  state_machine_arn = "arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${local.names.state_machine}"
  log_group_arns = {
    for k, n in local.function_names : k => "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${n}:*"
  }

  # Secrets: only where they live reaches Terraform (and so the state), never the values. Each is an SSM
  # SecureString parameter name or a Secrets Manager secret ARN.
  secret_parameter_names = { for k, v in var.secret_parameter_names : k => v if v != null }
  secret_parameter_env   = { for k, v in var.secret_parameter_names : k => v == null ? "" : v }
  channel_token_names    = ["whatsapp_access_token", "telegram_bot_token", "instagram_access_token"]
  secrets_read_by = {
    post_message = ["meta_app_secret", "meta_verify_token", "telegram_secret_token", "generic_secret"]
    # process_message reads a channel's media once that channel is configured for its real API, which its token
    # says (WhatsApp and Telegram download with it; Instagram's CDN URLs need none, but without the token replies and
    # media both stay local), and presence (show_typing) calls every channel. Transcription by OpenAI uses its own
    # key, or the OpenAI one when none is set.
    process_message = distinct(concat(
      var.ai_provider == "openai" ? ["openai_api_key"] : [],
      local.channel_token_names,
      var.transcribe_provider != "openai" ? [] : [var.secret_parameter_names.transcribe_api_key != null ? "transcribe_api_key" : "openai_api_key"],
    ))
    # The generic channel's replies are signed with the same secret its webhooks are verified with.
    reply = concat(local.channel_token_names, var.generic_callback_url != "" ? ["generic_secret"] : [])
  }
  # A tenant's own secrets, by the same rules: each function reads the ones its work for that tenant needs (the AI
  # provider and transcription are the deployment's, so are the generic channel's callbacks).
  tenant_secrets_read_by = {
    post_message = ["meta_app_secret", "meta_verify_token", "telegram_secret_token", "generic_secret"]
    process_message = concat(
      var.ai_provider == "openai" || var.transcribe_provider == "openai" ? ["openai_api_key"] : [],
      var.transcribe_provider == "openai" ? ["transcribe_api_key"] : [],
      local.channel_token_names,
    )
    reply = concat(local.channel_token_names, var.generic_callback_url != "" ? ["generic_secret"] : [])
  }
  # Per function, every reference it may read: the deployment's, then the tenants' (exactly those named, no pattern).
  secret_references = {
    for fn, names in local.secrets_read_by : fn => distinct(concat(
      [for k in names : local.secret_parameter_names[k] if contains(keys(local.secret_parameter_names), k)],
      flatten([for t in var.tenants : [for k, v in t.secrets : v if contains(local.tenant_secrets_read_by[fn], k)]]),
    ))
  }
  secret_arns = {
    for fn, references in local.secret_references : fn => {
      ssm = [
        for r in references : "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter/${trimprefix(r, "/")}"
        if !startswith(r, "arn:")
      ]
      secretsmanager = [for r in references : r if startswith(r, "arn:")]
    }
  }
  secrets_kms_resources = [
    var.secrets_kms_key_arn != null ? var.secrets_kms_key_arn : "arn:${local.partition}:kms:${local.region}:${local.account_id}:key/*"
  ]
  # Per function: read exactly its secrets, and decrypt them only through the service that stores them.
  secret_statements = {
    for fn, arns in local.secret_arns : fn => concat(
      length(arns.ssm) == 0 ? [] : [
        { sid = "ReadSecrets", actions = ["ssm:GetParameter"], resources = arns.ssm, conditions = [] },
        { sid = "DecryptSecretsViaSsm", actions = ["kms:Decrypt"], resources = local.secrets_kms_resources, conditions = [{ test = "StringEquals", variable = "kms:ViaService", values = ["ssm.${local.region}.${local.dns_suffix}"] }] },
      ],
      length(arns.secretsmanager) == 0 ? [] : [
        { sid = "ReadSecretsManagerSecrets", actions = ["secretsmanager:GetSecretValue"], resources = arns.secretsmanager, conditions = [] },
        { sid = "DecryptSecretsViaSecretsManager", actions = ["kms:Decrypt"], resources = local.secrets_kms_resources, conditions = [{ test = "StringEquals", variable = "kms:ViaService", values = ["secretsmanager.${local.region}.${local.dns_suffix}"] }] },
      ],
    )
  }

  # Bedrock: a geographic inference profile (us., eu., apac., ...) routes to the foundation model in
  # several Regions, so it needs the profile and the model in each of them.
  bedrock_profile_pattern = "^(us-gov|us|eu|apac|jp|au|ca|global)\\."
  bedrock_model_arns = !can(regex(local.bedrock_profile_pattern, var.bedrock_model_id)) ? [
    "arn:${local.partition}:bedrock:${local.region}::foundation-model/${var.bedrock_model_id}",
    ] : [
    "arn:${local.partition}:bedrock:${local.region}:${local.account_id}:inference-profile/${var.bedrock_model_id}",
    "arn:${local.partition}:bedrock:*::foundation-model/${replace(var.bedrock_model_id, "/${local.bedrock_profile_pattern}/", "")}",
  ]

  # Every grant of every function, in one place (a test compares them with the calls the code makes).
  # Explicit actions on explicit ARNs; "*" only for the X-Ray write actions, which have no resource.
  lambda_permissions = {
    post_message = concat(
      [
        # The buffer (messages, edits, deletes), the directory the admin API finds conversations in, the product's own
        # echoes, and pauses (a human's echo, the admin API).
        { sid = "BufferAndPauses", actions = ["dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:Query"], resources = [module.dynamodb.table_arn], conditions = [] },
        { sid = "StartBurstExecution", actions = ["states:StartExecution"], resources = [local.state_machine_arn], conditions = [] },
      ],
      local.secret_statements.post_message,
      [
        { sid = "OwnLogGroup", actions = ["logs:CreateLogStream", "logs:PutLogEvents"], resources = [local.log_group_arns.post_message], conditions = [] },
        { sid = "XRay", actions = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], resources = ["*"], conditions = [] },
      ],
    )
    process_message = concat(
      [
        { sid = "ClaimBurstAndHistory", actions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"], resources = [module.dynamodb.table_arn], conditions = [] },
      ],
      local.secret_statements.process_message,
      var.ai_provider != "bedrock" ? [] : [
        { sid = "InvokeModel", actions = ["bedrock:InvokeModel"], resources = local.bedrock_model_arns, conditions = [] },
      ],
      # Fetched media are stored once under media/ and read back for the AI (and by Amazon Transcribe, which reads
      # the input with the caller's permissions).
      [
        { sid = "MediaObjects", actions = ["s3:PutObject", "s3:GetObject"], resources = ["${module.media_bucket.bucket_arn}/media/*"], conditions = [] },
      ],
      var.transcribe_provider != "aws" ? [] : [
        { sid = "TranscriptionJobs", actions = ["transcribe:StartTranscriptionJob", "transcribe:GetTranscriptionJob"], resources = ["arn:${local.partition}:transcribe:${local.region}:${local.account_id}:transcription-job/*"], conditions = [] },
        { sid = "TranscriptObjects", actions = ["s3:PutObject", "s3:GetObject"], resources = ["${module.media_bucket.bucket_arn}/transcripts/*"], conditions = [] },
      ],
      var.kms_key_arn == null ? [] : [
        { sid = "MediaKeyViaS3", actions = ["kms:GenerateDataKey", "kms:Decrypt"], resources = [var.kms_key_arn], conditions = [{ test = "StringEquals", variable = "kms:ViaService", values = ["s3.${local.region}.${local.dns_suffix}"] }] },
      ],
      [
        { sid = "OwnLogGroup", actions = ["logs:CreateLogStream", "logs:PutLogEvents"], resources = [local.log_group_arns.process_message], conditions = [] },
        { sid = "XRay", actions = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], resources = ["*"], conditions = [] },
      ],
    )
    reply = concat(
      [
        # Settles each answer once before its first part (sent, superseded by later messages, withheld by a pause) and
        # records every part as it leaves. Reads with BatchGetItem only: the turn and the buffer in one read, before the lease.
        { sid = "RecordDelivery", actions = ["dynamodb:UpdateItem", "dynamodb:BatchGetItem"], resources = [module.dynamodb.table_arn], conditions = [] },
      ],
      # The tenants' items, and nothing else of the table by Query: only their partition.
      length(var.tenants) == 0 ? [] : [
        { sid = "ReadTenants", actions = ["dynamodb:Query"], resources = [module.dynamodb.table_arn], conditions = [{ test = "ForAllValues:StringEquals", variable = "dynamodb:LeadingKeys", values = [local.tenants_partition] }] },
      ],
      local.secret_statements.reply,
      [
        { sid = "OwnLogGroup", actions = ["logs:CreateLogStream", "logs:PutLogEvents"], resources = [local.log_group_arns.reply], conditions = [] },
        { sid = "XRay", actions = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], resources = ["*"], conditions = [] },
      ],
    )
  }

  # Environment variable names are the ones src/debouncer/config.py reads. Changing a value (e.g.
  # debounce_seconds) is an in-place UpdateFunctionConfiguration: no new code package.
  # Every function validates the same settings model at cold start, so each one is given every value that model
  # checks across fields (the window, the workflow type and the functions' timeouts): a function left to the
  # model's defaults would judge the deployment by numbers Terraform never chose (and refuse to start).
  common_environment = {
    TABLE_NAME                      = module.dynamodb.table_name
    POWERTOOLS_SERVICE_NAME         = var.name_prefix
    POWERTOOLS_METRICS_NAMESPACE    = var.metrics_namespace
    LOG_LEVEL                       = var.log_level
    SECRETS_SOURCE                  = "ssm"
    WORKFLOW_TYPE                   = var.workflow_type
    DEBOUNCE_SECONDS                = tostring(var.debounce_seconds)
    MAX_WAIT_SECONDS                = tostring(var.max_wait_seconds)
    PROCESS_MESSAGE_TIMEOUT_SECONDS = tostring(var.lambda_timeout.process_message)
    REPLY_TIMEOUT_SECONDS           = tostring(var.lambda_timeout.reply)
    # post_message pauses on a human's echo, process_message and reply follow supersedes and pauses.
    SUPERSEDE_STALE_ANSWERS = tostring(var.supersede_stale_answers)
    HANDOFF_SECONDS         = tostring(var.handoff_seconds)
    # Every function reads the tenants' items (a Query, cached) when there are some. Only whether there are: a
    # tenant's settings and secrets live in its item, so changing them changes no function.
    TENANTS_ENABLED = tostring(length(var.tenants) > 0)
  }

  # How to reach each channel's send API: reply sends, and process_message shows typing when enabled.
  channel_environment = {
    WHATSAPP_API_VERSION         = var.whatsapp_api_version
    WHATSAPP_PHONE_NUMBER_ID     = var.whatsapp_phone_number_id
    WHATSAPP_ACCESS_TOKEN_PARAM  = local.secret_parameter_env.whatsapp_access_token
    TELEGRAM_BOT_TOKEN_PARAM     = local.secret_parameter_env.telegram_bot_token
    INSTAGRAM_API_VERSION        = var.instagram_api_version
    INSTAGRAM_ACCESS_TOKEN_PARAM = local.secret_parameter_env.instagram_access_token
  }

  lambda_environment = {
    post_message = merge(local.common_environment, {
      STATE_MACHINE_ARN           = local.state_machine_arn
      MAX_MESSAGES                = tostring(var.max_messages)
      FLUSH_KEYWORDS              = join(",", [for k in var.flush_keywords : trimspace(k)])
      BUFFER_TTL_SECONDS          = tostring(var.buffer_retention_days * 86400)
      META_APP_SECRET_PARAM       = local.secret_parameter_env.meta_app_secret
      META_VERIFY_TOKEN_PARAM     = local.secret_parameter_env.meta_verify_token
      TELEGRAM_SECRET_TOKEN_PARAM = local.secret_parameter_env.telegram_secret_token
      GENERIC_SECRET_PARAM        = local.secret_parameter_env.generic_secret
      TELEGRAM_BOT_ID             = var.telegram_bot_id
    })
    process_message = merge(local.common_environment, local.channel_environment, {
      AI_PROVIDER          = var.ai_provider
      AI_SYSTEM_PROMPT     = var.ai_system_prompt
      AI_HISTORY_TURNS     = tostring(var.history_turns)
      AI_TIMEOUT_SECONDS   = tostring(var.ai_timeout_seconds)
      AI_MAX_ATTEMPTS      = tostring(var.ai_max_attempts)
      AI_MAX_TOKENS        = tostring(var.ai_max_tokens)
      AI_FALLBACK_MESSAGE  = var.ai_fallback_message
      HISTORY_TTL_SECONDS  = tostring(var.history_retention_days * 86400)
      DEDUPE_TTL_SECONDS   = tostring(var.dedupe_retention_days * 86400)
      BEDROCK_MODEL_ID     = var.bedrock_model_id
      OPENAI_BASE_URL      = var.openai_base_url
      OPENAI_MODEL         = var.openai_model
      OPENAI_API_KEY_PARAM = local.secret_parameter_env.openai_api_key
      SHOW_TYPING          = tostring(var.show_typing)
      # Media: downloaded with the channel tokens (channel_environment), stored in the media bucket, transcribed if asked.
      MEDIA_BUCKET                = module.media_bucket.bucket_name
      MAX_MEDIA_BYTES             = tostring(var.max_media_bytes)
      MEDIA_FETCH_TIMEOUT_SECONDS = tostring(var.media_fetch_timeout_seconds)
      AI_MEDIA                    = tostring(var.ai_media)
      TRANSCRIBE_PROVIDER         = var.transcribe_provider
      TRANSCRIBE_BASE_URL         = var.transcribe_base_url
      TRANSCRIBE_MODEL            = var.transcribe_model
      TRANSCRIBE_API_KEY_PARAM    = var.transcribe_provider == "openai" ? local.secret_parameter_env.transcribe_api_key : ""
      },
      # Unset, not empty, when null: the settings model reads an empty AI_TEMPERATURE as a number and refuses it.
      var.ai_temperature == null ? {} : { AI_TEMPERATURE = tostring(var.ai_temperature) },
    )
    reply = merge(local.common_environment, local.channel_environment, {
      GENERIC_CALLBACK_URL = var.generic_callback_url
      GENERIC_SECRET_PARAM = var.generic_callback_url != "" ? local.secret_parameter_env.generic_secret : ""
    })
  }
}

# Rules that span several variables. Terraform >= 1.9 could say them in the variables' own validation
# blocks; this configuration supports >= 1.6, so plan stops here instead.
resource "terraform_data" "settings" {
  lifecycle {
    precondition {
      condition     = var.max_wait_seconds >= var.debounce_seconds
      error_message = "max_wait_seconds (${var.max_wait_seconds}) must be >= debounce_seconds (${var.debounce_seconds})."
    }

    precondition {
      condition     = var.lambda_timeout.process_message >= var.ai_timeout_seconds * var.ai_max_attempts + 10
      error_message = "lambda_timeout.process_message (${var.lambda_timeout.process_message} s) must cover ai_max_attempts x ai_timeout_seconds plus 10 s for the claim and the history."
    }

    precondition {
      condition     = local.execution_seconds_needed <= local.workflow.max_execution_seconds
      error_message = "workflow_type = \"${var.workflow_type}\": one execution may need ${local.execution_seconds_needed} s (max_wait_seconds ${var.max_wait_seconds} + ${local.full_length_attempts_seconds} s of full-length process_message and reply attempts + ${local.reply_lease_wait_seconds} s waiting for a reply lease + ${local.workflow.retry_budget_seconds} s of retry delays + ${local.workflow.overhead_seconds} s), more than its limit of ${local.workflow.max_execution_seconds} s: shorten max_wait_seconds or lambda_timeout, or use STANDARD."
    }

    # The same rule for each tenant's window (its own max_wait_seconds, or the deployment's).
    precondition {
      condition     = length(local.tenants_over_execution_limit) == 0
      error_message = "workflow_type = \"${var.workflow_type}\": ${join("; ", [for id in local.tenants_over_execution_limit : "tenant \"${id}\": one execution may need ${local.tenant_execution_seconds_needed[id]} s (its max_wait_seconds ${local.tenant_windows[id].max_wait_seconds} + ${local.full_length_attempts_seconds} s of full-length process_message and reply attempts + ${local.reply_lease_wait_seconds} s waiting for a reply lease + ${local.workflow.retry_budget_seconds} s of retry delays + ${local.workflow.overhead_seconds} s)"])}, more than the limit of ${local.workflow.max_execution_seconds} s: shorten the tenant's settings.max_wait_seconds or lambda_timeout, or use STANDARD."
    }

    precondition {
      condition     = length(local.tenants_waiting_less_than_debounce) == 0
      error_message = "A tenant's max_wait_seconds must be >= its debounce_seconds (each its own setting, or the deployment's): ${join("; ", [for id in local.tenants_waiting_less_than_debounce : "tenant \"${id}\": max_wait_seconds ${local.tenant_windows[id].max_wait_seconds} < debounce_seconds ${local.tenant_windows[id].debounce_seconds}"])}."
    }

    precondition {
      # make package builds one folder per instruction set; this is what ties the zips to lambda_architecture.
      condition     = alltrue([for k in keys(local.lambda_functions) : fileexists("${path.module}/build/${var.lambda_architecture}/${k}.zip")])
      error_message = "No Lambda packages for lambda_architecture = \"${var.lambda_architecture}\" in build/${var.lambda_architecture}/: run `make package ARCH=${var.lambda_architecture}` first."
    }

    precondition {
      condition     = var.ai_provider != "openai" || (var.openai_base_url != "" && var.openai_model != "")
      error_message = "ai_provider = \"openai\" needs openai_base_url and openai_model."
    }

    precondition {
      condition     = length(local.names.media_bucket) <= 63
      error_message = "The media bucket name \"${local.names.media_bucket}\" is ${length(local.names.media_bucket)} characters, more than S3's 63: shorten name_prefix."
    }
  }
}

check "dedupe_outlives_redeliveries" {
  assert {
    condition     = var.dedupe_retention_days >= 8
    error_message = "dedupe_retention_days < 8: WhatsApp redelivers for up to 7 days, so a late redelivery could be answered twice."
  }
}

module "dynamodb" {
  source = "./modules/dynamodb"

  table_name                  = local.names.table
  hash_key                    = local.table_schema.hash_key
  range_key                   = local.table_schema.range_key
  attributes                  = local.table_schema.attributes
  ttl_attribute               = local.table_schema.ttl_attribute
  kms_key_arn                 = var.kms_key_arn
  deletion_protection_enabled = var.table_deletion_protection
}

# One item per tenant, in the conversations table, keyed by the table's own key schema: the functions Query the
# tenants' partition and cache what they read for a minute (debouncer.adapters.tenant_catalog).
resource "aws_dynamodb_table_item" "tenant" {
  for_each = local.tenant_entries

  table_name = module.dynamodb.table_name
  hash_key   = module.dynamodb.hash_key
  range_key  = module.dynamodb.range_key
  item = jsonencode({
    (local.table_schema.hash_key)  = { S = local.tenants_partition }
    (local.table_schema.range_key) = { S = each.key }
    tenant                         = { S = jsonencode(each.value) }
  })
}

module "media_bucket" {
  source = "./modules/media_bucket"

  bucket_name    = local.names.media_bucket
  retention_days = var.media_retention_days
  kms_key_arn    = var.kms_key_arn
}

module "queue" {
  source = "./modules/queue"

  name                      = local.names.dead_letter_queue
  message_retention_seconds = var.dead_letter_retention_days * 86400
  kms_key_arn               = var.kms_key_arn
}

module "lambda" {
  source   = "./modules/lambda_function"
  for_each = local.lambda_functions

  function_name                  = local.function_names[each.key]
  description                    = each.value.description
  filename                       = "${path.module}/build/${var.lambda_architecture}/${each.key}.zip"
  handler                        = "handler.handler"
  runtime                        = "python3.13"
  architecture                   = var.lambda_architecture
  layers                         = var.powertools_layer_arn == null ? [] : [var.powertools_layer_arn]
  memory_size                    = var.lambda_memory_size[each.key]
  timeout                        = var.lambda_timeout[each.key]
  reserved_concurrent_executions = var.lambda_reserved_concurrency[each.key]
  environment_variables          = local.lambda_environment[each.key]
  policy_statements              = local.lambda_permissions[each.key]
  tracing_mode                   = "Active"
  log_retention_days             = var.log_retention_days
  kms_key_arn                    = var.kms_key_arn
  snap_start                     = var.snap_start
}

module "step_functions" {
  source = "./modules/step_functions"

  name                         = local.names.state_machine
  definition_path              = "${path.module}/statemachines/debounce.asl.json.tftpl"
  table_name                   = module.dynamodb.table_name
  table_arn                    = module.dynamodb.table_arn
  process_message_function_arn = module.lambda["process_message"].invoke_target_arn
  reply_function_arn           = module.lambda["reply"].invoke_target_arn
  dead_letter_queue_url        = module.queue.queue_url
  dead_letter_queue_arn        = module.queue.queue_arn
  workflow_type                = var.workflow_type
  log_level                    = var.state_machine_log_level
  log_include_execution_data   = var.state_machine_log_execution_data
  log_retention_days           = var.log_retention_days
  kms_key_arn                  = var.kms_key_arn

  # Express executions last at most 5 minutes: a smaller retry budget (statemachines/workflow_types.json).
  transient_retry = {
    max_attempts      = local.workflow.template.transient_retry_max_attempts
    max_delay_seconds = local.workflow.template.transient_retry_max_delay_seconds
  }
  # A timed-out attempt runs the function's whole timeout again: none on Express (counted in its 5 minutes above).
  timeout_retry_max_attempts = local.workflow.template.timeout_retry_max_attempts
}

module "api_gateway" {
  source = "./modules/api_gateway"

  name                 = local.names.api
  lambda_function_name = module.lambda["post_message"].function_name
  lambda_function_arn  = module.lambda["post_message"].invoke_target_arn
  lambda_qualifier     = module.lambda["post_message"].qualifier
  # The function's own timeout plus a second for the invoke, within the HTTP API's 30 s: a shorter integration
  # timeout would answer 503 while the function still buffers the message, and the channel would redeliver it.
  integration_timeout_milliseconds = min(30000, (var.lambda_timeout.post_message + 1) * 1000)
  admin_route_keys                 = local.admin_route_keys
  throttling_burst_limit           = var.api_throttling_burst_limit
  throttling_rate_limit            = var.api_throttling_rate_limit
  log_retention_days               = var.log_retention_days
  kms_key_arn                      = var.kms_key_arn
}

module "alarms" {
  source = "./modules/alarms"

  name_prefix            = var.name_prefix
  dead_letter_queue_name = module.queue.queue_name
  state_machine_arn      = module.step_functions.state_machine_arn
  # Only post_message: any error of it is a defect (API Gateway's bare 500 to a channel). process_message and reply
  # fail by design and the state machine handles it (a held reply lease, the AI's error after its fallback was sent,
  # transient retries); what reaches the user, or fails to, shows on the DLQ and execution alarms above.
  lambda_function_names = { post_message = module.lambda["post_message"].function_name }
  alarm_sns_topic_arn   = var.alarm_sns_topic_arn
}

# What operators look at: the alarms' states, the product's metrics and the AWS services' (modules/dashboard). The
# product's namespace and service are the very values the functions publish under.
module "dashboard" {
  source = "./modules/dashboard"
  count  = var.create_dashboard ? 1 : 0

  # Dashboard names are global to the account: the Region in the name lets one name_prefix deploy to several.
  dashboard_name         = "${var.name_prefix}-${local.region}"
  region                 = local.region
  metrics_namespace      = local.common_environment.POWERTOOLS_METRICS_NAMESPACE
  service_name           = local.common_environment.POWERTOOLS_SERVICE_NAME
  function_names         = { for k, m in module.lambda : k => m.function_name }
  state_machine_arn      = local.state_machine_arn
  dead_letter_queue_name = module.queue.queue_name
  api_id                 = module.api_gateway.api_id
  # Built from the names, as the state machine's ARN is: known at plan, so `terraform plan` shows the whole body.
  alarm_arns = [for name in module.alarms.alarm_names : "arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${name}"]
}
