output "alarm_arns" {
  description = "ARNs of every alarm, by signal (Lambda alarms keyed lambda_errors_<key>)."
  value = merge(
    {
      dead_letter_queue    = aws_cloudwatch_metric_alarm.dead_letter_queue.arn
      executions_failed    = aws_cloudwatch_metric_alarm.executions_failed.arn
      executions_timed_out = aws_cloudwatch_metric_alarm.executions_timed_out.arn
    },
    { for k, a in aws_cloudwatch_metric_alarm.lambda_errors : "lambda_errors_${k}" => a.arn },
  )
}

output "alarm_names" {
  description = "Names of every alarm."
  value = concat(
    [
      aws_cloudwatch_metric_alarm.dead_letter_queue.alarm_name,
      aws_cloudwatch_metric_alarm.executions_failed.alarm_name,
      aws_cloudwatch_metric_alarm.executions_timed_out.alarm_name,
    ],
    [for a in aws_cloudwatch_metric_alarm.lambda_errors : a.alarm_name],
  )
}
