variable "name" {
  description = "Name of the HTTP API (also of its access log group)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,128}$", var.name))
    error_message = "name must be 1-128 characters of a-z, A-Z, 0-9, '-' and '_'."
  }
}

variable "lambda_function_name" {
  description = "Name of the post_message Lambda function (API Gateway gets permission to invoke it)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,64}$", var.lambda_function_name))
    error_message = "lambda_function_name must be a Lambda function name."
  }
}

variable "lambda_function_arn" {
  description = "ARN of the post_message Lambda function (the AWS_PROXY integration target): unqualified, or qualified by lambda_qualifier."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[a-zA-Z0-9_-]+(:[a-zA-Z0-9_-]+)?$", var.lambda_function_arn))
    error_message = "lambda_function_arn must be a Lambda function ARN, unqualified or qualified by an alias or version."
  }
}

variable "lambda_qualifier" {
  description = "Alias (or version) of post_message that lambda_function_arn is qualified by, e.g. SnapStart's `live`; the invoke permission is granted on it. null: the unqualified function."
  type        = string
  default     = null

  validation {
    condition     = var.lambda_qualifier == null || can(regex("^[a-zA-Z0-9_-]{1,128}$", var.lambda_qualifier))
    error_message = "lambda_qualifier must be null or an alias name or version number (1-128 of a-z, A-Z, 0-9, '-' and '_')."
  }
}

variable "integration_timeout_milliseconds" {
  description = "Integration timeout; webhooks must be acknowledged fast (HTTP API maximum: 30000)."
  type        = number
  default     = 10000

  validation {
    condition     = var.integration_timeout_milliseconds >= 50 && var.integration_timeout_milliseconds <= 30000
    error_message = "integration_timeout_milliseconds must be between 50 and 30000."
  }
}

variable "admin_route_keys" {
  description = "Route keys (\"METHOD /admin/...\") of the operators' admin API: the same integration as the webhooks, authorized with IAM (AWS_IAM: a SigV4-signed request of a principal allowed execute-api:Invoke on the route). Explicit methods and static paths only, so each route has one exact ARN to grant."
  type        = set(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for k in var.admin_route_keys : can(regex("^(GET|POST|PUT|PATCH|DELETE) /admin(/[A-Za-z0-9._-]+)+$", k))])
    error_message = "Each admin_route_keys entry must be GET, POST, PUT, PATCH or DELETE and a static path under /admin (no ANY, no {parameters}), e.g. \"POST /admin/conversations/pause\"."
  }
}

variable "throttling_burst_limit" {
  description = "Stage-wide throttling burst limit (requests)."
  type        = number
  default     = 200

  validation {
    condition     = var.throttling_burst_limit >= 0 && var.throttling_burst_limit <= 5000 && floor(var.throttling_burst_limit) == var.throttling_burst_limit
    error_message = "throttling_burst_limit must be a whole number between 0 and 5000."
  }
}

variable "throttling_rate_limit" {
  description = "Stage-wide steady-state throttling rate limit (requests per second)."
  type        = number
  default     = 100

  validation {
    condition     = var.throttling_rate_limit >= 0 && var.throttling_rate_limit <= 10000
    error_message = "throttling_rate_limit must be between 0 and 10000."
  }
}

variable "log_retention_days" {
  description = "Retention of the access log group, in days (a value CloudWatch Logs accepts)."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for the access log group; null uses CloudWatch Logs' own encryption."
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
