variable "table_name" {
  description = "Name of the DynamoDB table."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.table_name))
    error_message = "table_name must be 3-255 characters of a-z, A-Z, 0-9, '_', '-' and '.'."
  }
}

variable "hash_key" {
  description = "Partition key attribute name (from schemas/dynamodb-table.json)."
  type        = string

  validation {
    condition     = length(var.hash_key) > 0 && length(var.hash_key) <= 255
    error_message = "hash_key must be 1-255 characters."
  }
}

variable "range_key" {
  description = "Sort key attribute name (from schemas/dynamodb-table.json)."
  type        = string

  validation {
    condition     = length(var.range_key) > 0 && length(var.range_key) <= 255
    error_message = "range_key must be 1-255 characters."
  }
}

variable "attributes" {
  description = "Key attribute definitions (from schemas/dynamodb-table.json): name and type (S, N or B)."
  type = list(object({
    name = string
    type = string
  }))

  validation {
    condition     = length(var.attributes) > 0 && alltrue([for a in var.attributes : contains(["S", "N", "B"], a.type)])
    error_message = "attributes must be non-empty and every type must be one of S, N, B."
  }
}

variable "ttl_attribute" {
  description = "Attribute holding the expiry time (epoch seconds) of every item."
  type        = string
  default     = "expires_at"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{1,255}$", var.ttl_attribute))
    error_message = "ttl_attribute must be a plain attribute name of 1-255 characters."
  }
}

variable "point_in_time_recovery_enabled" {
  description = "Enable point-in-time recovery (continuous backups)."
  type        = bool
  default     = true
  nullable    = false

  validation {
    condition     = var.point_in_time_recovery_enabled != null
    error_message = "point_in_time_recovery_enabled must be true or false."
  }
}

variable "deletion_protection_enabled" {
  description = "Protect the table against deletion (turn off before terraform destroy)."
  type        = bool
  default     = true
  nullable    = false

  validation {
    condition     = var.deletion_protection_enabled != null
    error_message = "deletion_protection_enabled must be true or false."
  }
}

variable "kms_key_arn" {
  description = "ARN of a customer managed KMS key for server-side encryption; null uses the AWS managed key."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN."
  }
}

variable "tags" {
  description = "Tags added to the table (provider default_tags apply as well)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.tags : length(k) <= 128 && length(v) <= 256 && !startswith(k, "aws:")])
    error_message = "Tag keys must be at most 128 characters and not start with 'aws:'; values at most 256 characters."
  }
}
