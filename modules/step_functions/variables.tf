variable "name" {
  description = "Name of the state machine (also of its log group, and with the Region appended of its role)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,48}$", var.name))
    error_message = "name must be 1-48 characters of a-z, A-Z, 0-9, '-' and '_' (its role name adds '-<region>' within IAM's 64)."
  }
}

variable "definition_path" {
  description = "Path of the ASL template (statemachines/debounce.asl.json.tftpl); rendered with templatefile()."
  type        = string

  validation {
    condition     = endswith(var.definition_path, ".asl.json.tftpl") && fileexists(var.definition_path)
    error_message = "definition_path must point to an existing .asl.json.tftpl file (an ASL template for templatefile())."
  }
}

variable "table_name" {
  description = "Name of the DynamoDB table the state machine reads the buffer from."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.table_name))
    error_message = "table_name must be a valid DynamoDB table name."
  }
}

variable "table_arn" {
  description = "ARN of that table (dynamodb:GetItem is granted on it)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/.+$", var.table_arn))
    error_message = "table_arn must be a DynamoDB table ARN."
  }
}

variable "process_message_function_arn" {
  description = "ARN the state machine invokes the process_message Lambda function by: unqualified, or qualified by an alias (SnapStart's `live`) or version, which is then the only one granted."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[a-zA-Z0-9_-]+(:[a-zA-Z0-9_-]+)?$", var.process_message_function_arn))
    error_message = "process_message_function_arn must be a Lambda function ARN, unqualified or qualified by an alias or version."
  }
}

variable "reply_function_arn" {
  description = "ARN the state machine invokes the reply Lambda function by: unqualified, or qualified by an alias (SnapStart's `live`) or version, which is then the only one granted."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[a-zA-Z0-9_-]+(:[a-zA-Z0-9_-]+)?$", var.reply_function_arn))
    error_message = "reply_function_arn must be a Lambda function ARN, unqualified or qualified by an alias or version."
  }
}

variable "dead_letter_queue_url" {
  description = "URL of the SQS dead-letter queue (the DeadLetter state sends to it)."
  type        = string

  validation {
    condition     = can(regex("^https://", var.dead_letter_queue_url))
    error_message = "dead_letter_queue_url must be an https:// SQS queue URL."
  }
}

variable "dead_letter_queue_arn" {
  description = "ARN of that queue (sqs:SendMessage is granted on it)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:sqs:[a-z0-9-]+:[0-9]{12}:.+$", var.dead_letter_queue_arn))
    error_message = "dead_letter_queue_arn must be an SQS queue ARN."
  }
}

variable "workflow_type" {
  description = "STANDARD (exactly once, up to a year, billed per state transition) or EXPRESS (at least once, at most 5 minutes, billed per execution and duration)."
  type        = string
  default     = "STANDARD"

  validation {
    condition     = contains(["STANDARD", "EXPRESS"], var.workflow_type)
    error_message = "workflow_type must be STANDARD or EXPRESS."
  }
}

variable "transient_retry" {
  description = "Retry of process_message and reply on transient errors: attempts and the longest backoff, in seconds (smaller on EXPRESS, whose executions last at most 5 minutes)."
  type = object({
    max_attempts      = number
    max_delay_seconds = number
  })

  validation {
    condition     = var.transient_retry.max_attempts >= 1 && var.transient_retry.max_attempts <= 10 && floor(var.transient_retry.max_attempts) == var.transient_retry.max_attempts && var.transient_retry.max_delay_seconds >= 1 && var.transient_retry.max_delay_seconds <= 3600 && floor(var.transient_retry.max_delay_seconds) == var.transient_retry.max_delay_seconds
    error_message = "transient_retry: max_attempts a whole number from 1 to 10, max_delay_seconds a whole number from 1 to 3600."
  }
}

variable "timeout_retry_max_attempts" {
  description = "Retries of process_message and reply after a Lambda timeout (Lambda.Unknown, Sandbox.Timedout, States.Timeout). Each runs the function's full length again, so the root module counts them in the workflow type's time limit: 0 on EXPRESS."
  type        = number
  default     = 0

  validation {
    condition     = var.timeout_retry_max_attempts >= 0 && var.timeout_retry_max_attempts <= 3 && floor(var.timeout_retry_max_attempts) == var.timeout_retry_max_attempts
    error_message = "timeout_retry_max_attempts must be a whole number from 0 to 3."
  }
}

variable "log_level" {
  description = "Which execution history events are logged to CloudWatch Logs (Express executions have no other history, so not OFF with EXPRESS)."
  type        = string
  default     = "ERROR"

  validation {
    condition     = contains(["ALL", "ERROR", "FATAL", "OFF"], var.log_level)
    error_message = "log_level must be one of ALL, ERROR, FATAL, OFF."
  }
}

variable "log_include_execution_data" {
  description = "Log execution input and state output too. They hold message text (personal data): keep false unless you must."
  type        = bool
  default     = false
  nullable    = false

  validation {
    condition     = var.log_include_execution_data != null
    error_message = "log_include_execution_data must be true or false."
  }
}

variable "log_retention_days" {
  description = "Retention of the state machine's log group, in days (a value CloudWatch Logs accepts)."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for the log group; null uses CloudWatch Logs' own encryption."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN."
  }
}

variable "tags" {
  description = "Tags added to every resource of the module (provider default_tags apply as well)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.tags : length(k) <= 128 && length(v) <= 256 && !startswith(k, "aws:")])
    error_message = "Tag keys must be at most 128 characters and not start with 'aws:'; values at most 256 characters."
  }
}
