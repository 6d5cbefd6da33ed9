# Alarms on the signals that mean a burst was not answered: anything on the DLQ, a failed or timed-out
# execution, a Lambda error. Actions go to an optional SNS topic.

locals {
  actions = var.alarm_sns_topic_arn == null ? [] : [var.alarm_sns_topic_arn]

  # One spec per signal; every alarm fires when its statistic in one period is above the threshold.
  alarms = merge(
    {
      dead_letter_queue = {
        name        = "dlq-not-empty"
        description = "A burst was dead-lettered: it could not be answered. Inspect the queue ${var.dead_letter_queue_name}."
        namespace   = "AWS/SQS"
        metric      = "ApproximateNumberOfMessagesVisible"
        dimensions  = { QueueName = var.dead_letter_queue_name }
        statistic   = "Maximum"
        threshold   = 0
      }
      executions_failed = {
        name        = "executions-failed"
        description = "Debounce executions failed (their bursts are on the DLQ)."
        namespace   = "AWS/States"
        metric      = "ExecutionsFailed"
        dimensions  = { StateMachineArn = var.state_machine_arn }
        statistic   = "Sum"
        threshold   = 0
      }
      executions_timed_out = {
        name        = "executions-timed-out"
        description = "Debounce executions timed out."
        namespace   = "AWS/States"
        metric      = "ExecutionsTimedOut"
        dimensions  = { StateMachineArn = var.state_machine_arn }
        statistic   = "Sum"
        threshold   = 0
      }
    },
    {
      for key, function_name in var.lambda_function_names : "lambda_errors_${key}" => {
        name        = "${replace(key, "_", "-")}-errors"
        description = "The ${function_name} Lambda function reported errors."
        namespace   = "AWS/Lambda"
        metric      = "Errors"
        dimensions  = { FunctionName = function_name }
        statistic   = "Sum"
        threshold   = var.lambda_errors_threshold
      }
    },
  )
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name          = "${var.name_prefix}-${each.value.name}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = var.period_seconds
  evaluation_periods  = var.evaluation_periods
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value.threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions

  tags = var.tags
}
