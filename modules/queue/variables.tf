variable "name" {
  description = "Name of the dead-letter queue."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,80}$", var.name))
    error_message = "name must be 1-80 characters of a-z, A-Z, 0-9, '-' and '_' (standard queue)."
  }
}

variable "message_retention_seconds" {
  description = "How long a dead-lettered burst is kept, in seconds (SQS maximum: 14 days)."
  type        = number
  default     = 1209600

  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600 && floor(var.message_retention_seconds) == var.message_retention_seconds
    error_message = "message_retention_seconds must be a whole number between 60 and 1209600 (14 days)."
  }
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for the queue; null uses SSE-SQS (SQS-owned keys)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN."
  }
}

variable "kms_data_key_reuse_period_seconds" {
  description = "How long SQS reuses a data key before calling KMS again (only with kms_key_arn)."
  type        = number
  default     = 300

  validation {
    condition     = var.kms_data_key_reuse_period_seconds >= 60 && var.kms_data_key_reuse_period_seconds <= 86400
    error_message = "kms_data_key_reuse_period_seconds must be between 60 and 86400."
  }
}

variable "tags" {
  description = "Tags added to the queue (provider default_tags apply as well)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.tags : length(k) <= 128 && length(v) <= 256 && !startswith(k, "aws:")])
    error_message = "Tag keys must be at most 128 characters and not start with 'aws:'; values at most 256 characters."
  }
}
