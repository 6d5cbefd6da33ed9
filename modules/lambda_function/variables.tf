variable "function_name" {
  description = "Name of the Lambda function (also its log group /aws/lambda/<name>, and with the Region appended its role)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,48}$", var.function_name))
    error_message = "function_name must be 1-48 characters of a-z, A-Z, 0-9, '-' and '_' (its role name adds '-<region>' within IAM's 64)."
  }
}

variable "description" {
  description = "Description of the function."
  type        = string
  default     = ""

  validation {
    condition     = length(var.description) <= 256
    error_message = "description must be at most 256 characters."
  }
}

variable "filename" {
  description = "Path of the deployment zip built by `make package` (build/<name>.zip)."
  type        = string

  validation {
    condition     = endswith(var.filename, ".zip") && fileexists(var.filename)
    error_message = "filename must be an existing .zip file: run `make package` before terraform plan/apply."
  }
}

variable "handler" {
  description = "Function entry point, module.function."
  type        = string
  default     = "handler.handler"

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_.]*\\.[A-Za-z_][A-Za-z0-9_]*$", var.handler))
    error_message = "handler must look like module.function, e.g. handler.handler."
  }
}

variable "runtime" {
  description = "Lambda runtime identifier."
  type        = string
  default     = "python3.13"

  validation {
    condition     = contains(["python3.12", "python3.13"], var.runtime)
    error_message = "runtime must be python3.12 or python3.13 (the package is built for python3.13; python3.12 would ignore its bytecode)."
  }
}

variable "architecture" {
  description = "Instruction set architecture of the function."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "layers" {
  description = "Layer version ARNs attached to the function (e.g. the Powertools layer); at most 5."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.layers) <= 5 && alltrue([for l in var.layers : can(regex("^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:[0-9]{12}:layer:[a-zA-Z0-9_-]+:[0-9]+$", l))])
    error_message = "layers must hold at most 5 layer version ARNs (arn:...:layer:<name>:<version>)."
  }
}

variable "memory_size" {
  description = "Memory in MB (CPU scales with it)."
  type        = number
  default     = 256

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240 && floor(var.memory_size) == var.memory_size
    error_message = "memory_size must be a whole number between 128 and 10240."
  }
}

variable "timeout" {
  description = "Timeout in seconds."
  type        = number
  default     = 10

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900 && floor(var.timeout) == var.timeout
    error_message = "timeout must be a whole number between 1 and 900."
  }
}

variable "reserved_concurrent_executions" {
  description = "Reserved concurrency; -1 leaves the function unreserved (account pool)."
  type        = number
  default     = -1

  validation {
    condition     = var.reserved_concurrent_executions == -1 || (var.reserved_concurrent_executions >= 1 && floor(var.reserved_concurrent_executions) == var.reserved_concurrent_executions)
    error_message = "reserved_concurrent_executions must be -1 (unreserved) or a whole number >= 1 (0 would disable the function)."
  }
}

variable "environment_variables" {
  description = "Environment variables of the function. Names of secrets only, never their values."
  type        = map(string)

  validation {
    condition     = length(var.environment_variables) > 0 && alltrue([for k, v in var.environment_variables : can(regex("^[a-zA-Z][a-zA-Z0-9_]*$", k))])
    error_message = "environment_variables must be non-empty and every name must match [a-zA-Z][a-zA-Z0-9_]*."
  }

  # Lambda's limit is 4 KB of bytes, not characters: a system prompt in Greek or Japanese takes two or three bytes
  # a character. Terraform has no byte length, but base64 has one: 4 characters for every 3 bytes, less padding.
  validation {
    condition     = length(base64encode(jsonencode(var.environment_variables))) * 3 / 4 - length(regexall("=", base64encode(jsonencode(var.environment_variables)))) <= 4096
    error_message = "Lambda limits the environment to 4 KB (4096 bytes of UTF-8) in total."
  }
}

variable "policy_statements" {
  description = "Allow statements of the function's inline policy: explicit actions on explicit ARNs. Only the X-Ray write actions may use resource \"*\"."
  type = list(object({
    sid       = string
    actions   = list(string)
    resources = list(string)
    conditions = optional(list(object({
      test     = string
      variable = string
      values   = list(string)
    })), [])
  }))

  validation {
    condition     = length(var.policy_statements) > 0 && alltrue([for s in var.policy_statements : can(regex("^[A-Za-z0-9]+$", s.sid)) && length(s.actions) > 0 && length(s.resources) > 0])
    error_message = "Every statement needs an alphanumeric sid, at least one action and at least one resource."
  }

  validation {
    condition     = alltrue(flatten([for s in var.policy_statements : [for a in s.actions : can(regex("^[a-z0-9-]+:[A-Za-z0-9]+$", a))]]))
    error_message = "Actions must be explicit service:Action names, no wildcards."
  }

  validation {
    condition = alltrue([
      for s in var.policy_statements : !contains(s.resources, "*") || (length(s.resources) == 1 && length(setsubtract(s.actions, ["xray:PutTraceSegments", "xray:PutTelemetryRecords"])) == 0)
    ])
    error_message = "Resource \"*\" is allowed only, and alone, for xray:PutTraceSegments and xray:PutTelemetryRecords."
  }
}

variable "snap_start" {
  description = "Lambda SnapStart: publish a version on every change, snapshot it after init, and invoke it through the `live` alias (the invoke_target_arn output). Python 3.12 or later; not with provisioned concurrency, Amazon EFS or more than 512 MB of ephemeral storage, none of which this module sets."
  type        = bool
  default     = false
  nullable    = false

  validation {
    condition     = var.snap_start != null
    error_message = "snap_start must be true or false."
  }
}

variable "tracing_mode" {
  description = "X-Ray tracing mode."
  type        = string
  default     = "Active"

  validation {
    condition     = contains(["Active", "PassThrough"], var.tracing_mode)
    error_message = "tracing_mode must be Active or PassThrough."
  }
}

variable "log_retention_days" {
  description = "Retention of the function's log group, in days (a value CloudWatch Logs accepts)."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for the log group and the environment at rest; null uses AWS keys."
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
