variable "dashboard_name" {
  description = "Name of the dashboard. Dashboards are global to the account, not per Region: include the Region to deploy the same name in several."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.dashboard_name))
    error_message = "dashboard_name must be 1-255 characters of A-Z, a-z, 0-9, '-' and '_'."
  }
}

variable "region" {
  description = "Region of every metric the dashboard graphs (the deployment's)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be a Region code such as eu-west-1."
  }
}

variable "metrics_namespace" {
  description = "CloudWatch namespace the functions publish their metrics in (POWERTOOLS_METRICS_NAMESPACE)."
  type        = string

  # No quote, backslash or parenthesis: the namespace is written into the graphs' SEARCH expressions as is.
  validation {
    condition     = can(regex("^[a-zA-Z0-9._/#:-]{1,255}$", var.metrics_namespace)) && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace must be 1-255 characters of a-z, A-Z, 0-9 and . _ / # : - and not start with AWS/."
  }
}

variable "service_name" {
  description = "Value of the service dimension of the functions' metrics (POWERTOOLS_SERVICE_NAME): the graphs show this deployment's metrics only."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9._/#:-]{1,255}$", var.service_name))
    error_message = "service_name must be 1-255 characters of a-z, A-Z, 0-9 and . _ / # : -."
  }
}

variable "function_names" {
  description = "Name of each Lambda function, by handler: their AWS/Lambda metrics are graphed."
  type = object({
    post_message    = string
    process_message = string
    reply           = string
  })

  validation {
    condition     = alltrue([for name in values(var.function_names) : can(regex("^[a-zA-Z0-9_-]{1,64}$", name))])
    error_message = "Every function_names entry must be a Lambda function name (1-64 characters of a-z, A-Z, 0-9, '-' and '_')."
  }
}

variable "state_machine_arn" {
  description = "ARN of the state machine whose executions are graphed."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:states:[a-z0-9-]+:[0-9]{12}:stateMachine:.+$", var.state_machine_arn))
    error_message = "state_machine_arn must be a Step Functions state machine ARN."
  }
}

variable "dead_letter_queue_name" {
  description = "Name of the SQS dead-letter queue whose sends and depth are graphed."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,80}$", var.dead_letter_queue_name))
    error_message = "dead_letter_queue_name must be an SQS standard queue name."
  }
}

variable "api_id" {
  description = "ID of the HTTP API whose requests, errors and latency are graphed (its ApiId dimension)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]{10}$", var.api_id))
    error_message = "api_id must be an API Gateway API id (10 characters of a-z and 0-9)."
  }
}

variable "alarm_arns" {
  description = "ARNs of the alarms the alarm status widget lists (1-100, the widget's limit)."
  type        = list(string)

  validation {
    condition     = length(var.alarm_arns) >= 1 && length(var.alarm_arns) <= 100 && alltrue([for arn in var.alarm_arns : can(regex("^arn:aws[a-zA-Z-]*:cloudwatch:[a-z0-9-]+:[0-9]{12}:alarm:.+$", arn))])
    error_message = "alarm_arns must hold 1-100 CloudWatch alarm ARNs (arn:...:cloudwatch:<region>:<account>:alarm:<name>)."
  }
}

variable "period_seconds" {
  description = "Period of every graph's data points, in seconds."
  type        = number
  default     = 300

  validation {
    condition     = var.period_seconds >= 60 && var.period_seconds <= 86400 && var.period_seconds % 60 == 0
    error_message = "period_seconds must be a multiple of 60 between 60 and 86400."
  }
}

variable "time_range" {
  description = "Time range the dashboard opens on, ending now: an ISO 8601 duration such as -PT12H (hours) or -P7D (days)."
  type        = string
  default     = "-PT12H"

  validation {
    condition     = can(regex("^-P(T[0-9]+[MH]|[0-9]+[DWM])$", var.time_range))
    error_message = "time_range must be -PT<n>M, -PT<n>H, -P<n>D, -P<n>W or -P<n>M."
  }
}
