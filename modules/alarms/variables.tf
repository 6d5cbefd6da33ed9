variable "name_prefix" {
  description = "Prefix of every alarm name."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,200}$", var.name_prefix))
    error_message = "name_prefix must be 1-200 characters of a-z, A-Z, 0-9, '-' and '_'."
  }
}

variable "dead_letter_queue_name" {
  description = "Name of the SQS dead-letter queue to watch."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,80}$", var.dead_letter_queue_name))
    error_message = "dead_letter_queue_name must be an SQS standard queue name."
  }
}

variable "state_machine_arn" {
  description = "ARN of the state machine to watch."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:states:[a-z0-9-]+:[0-9]{12}:stateMachine:.+$", var.state_machine_arn))
    error_message = "state_machine_arn must be a Step Functions state machine ARN."
  }
}

variable "lambda_function_names" {
  description = "Lambda functions whose every error is a defect, so whose Errors metric is watched: map of a short key to the function name. Leave out functions that fail by design and are retried or caught by a state machine."
  type        = map(string)

  validation {
    condition     = length(var.lambda_function_names) > 0 && alltrue([for k, v in var.lambda_function_names : can(regex("^[a-zA-Z0-9_-]{1,64}$", v))])
    error_message = "lambda_function_names must map keys to valid Lambda function names."
  }
}

variable "alarm_sns_topic_arn" {
  description = "SNS topic notified when an alarm fires and recovers; null creates the alarms without actions."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_sns_topic_arn == null || can(regex("^arn:aws[a-zA-Z-]*:sns:[a-z0-9-]+:[0-9]{12}:[a-zA-Z0-9_.-]+$", var.alarm_sns_topic_arn))
    error_message = "alarm_sns_topic_arn must be null or an SNS topic ARN."
  }
}

variable "period_seconds" {
  description = "Period over which each metric is evaluated, in seconds."
  type        = number
  default     = 60

  validation {
    condition     = var.period_seconds >= 60 && var.period_seconds % 60 == 0
    error_message = "period_seconds must be a multiple of 60."
  }
}

variable "evaluation_periods" {
  description = "Number of periods that must breach before an alarm fires."
  type        = number
  default     = 1

  validation {
    condition     = var.evaluation_periods >= 1 && var.evaluation_periods <= 100 && floor(var.evaluation_periods) == var.evaluation_periods
    error_message = "evaluation_periods must be a whole number between 1 and 100."
  }
}

variable "lambda_errors_threshold" {
  description = "A Lambda alarm fires when its Errors sum in one period is greater than this."
  type        = number
  default     = 0

  validation {
    condition     = var.lambda_errors_threshold >= 0
    error_message = "lambda_errors_threshold must be >= 0."
  }
}

variable "tags" {
  description = "Tags added to every alarm (provider default_tags apply as well)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.tags : length(k) <= 128 && length(v) <= 256 && !startswith(k, "aws:")])
    error_message = "Tag keys must be at most 128 characters and not start with 'aws:'; values at most 256 characters."
  }
}
