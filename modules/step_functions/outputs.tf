output "state_machine_arn" {
  description = "ARN of the state machine."
  value       = aws_sfn_state_machine.this.arn
}

output "state_machine_name" {
  description = "Name of the state machine."
  value       = aws_sfn_state_machine.this.name
}

output "role_arn" {
  description = "ARN of the state machine's execution role."
  value       = aws_iam_role.this.arn
}

output "log_group_name" {
  description = "Name of the state machine's CloudWatch log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "workflow_type" {
  description = "Workflow type of the state machine: STANDARD or EXPRESS."
  value       = aws_sfn_state_machine.this.type
}
