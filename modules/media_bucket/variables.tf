variable "bucket_name" {
  description = "Name of the media bucket: globally unique, so include the account and Region (e.g. <prefix>-media-<account>-<region>)."
  type        = string

  validation {
    condition     = length(var.bucket_name) >= 3 && length(var.bucket_name) <= 63 && can(regex("^[a-z0-9][a-z0-9-]*[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be 3-63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit (S3 bucket naming rules; no dots, so TLS to the virtual-hosted endpoint works)."
  }
}

variable "retention_days" {
  description = "Days after which every object (media, transcripts) expires; noncurrent versions and incomplete multipart uploads go after 1 day."
  type        = number
  default     = 7

  validation {
    condition     = var.retention_days >= 1 && var.retention_days <= 365 && floor(var.retention_days) == var.retention_days
    error_message = "retention_days must be a whole number between 1 and 365."
  }
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for SSE-KMS (with an S3 Bucket Key); null uses SSE-S3 (S3-managed keys)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN."
  }
}

variable "tags" {
  description = "Tags added to the bucket (provider default_tags apply as well)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.tags : length(k) <= 128 && length(v) <= 256 && !startswith(k, "aws:")])
    error_message = "Tag keys must be at most 128 characters and not start with 'aws:'; values at most 256 characters."
  }
}
