output "alarm_arns" {
  description = "ARNs of every alarm, by signal (Lambda alarms keyed lambda_errors_<key>)."
  value       = { for key, alarm in aws_cloudwatch_metric_alarm.this : key => alarm.arn }
}

output "alarm_names" {
  description = "Names of every alarm."
  value       = [for alarm in aws_cloudwatch_metric_alarm.this : alarm.alarm_name]
}
