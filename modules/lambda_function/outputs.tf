output "function_name" {
  description = "Name of the function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "Unqualified ARN of the function."
  value       = aws_lambda_function.this.arn
}

output "invoke_arn" {
  description = "ARN API Gateway uses to invoke the function."
  value       = aws_lambda_function.this.invoke_arn
}

output "invoke_target_arn" {
  description = "ARN the callers invoke: the `live` alias's with snap_start (qualified), the function's otherwise (unqualified)."
  value       = var.snap_start ? one(aws_lambda_alias.this[*].arn) : aws_lambda_function.this.arn
}

output "qualifier" {
  description = "Alias the callers invoke (`live`) with snap_start, null otherwise (for a qualified aws_lambda_permission)."
  value       = one(aws_lambda_alias.this[*].name)
}

output "published_version" {
  description = "Version the alias points at with snap_start (known after apply), null otherwise."
  value       = var.snap_start ? aws_lambda_function.this.version : null
}

output "role_arn" {
  description = "ARN of the function's execution role."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the function's execution role."
  value       = aws_iam_role.this.name
}

output "log_group_name" {
  description = "Name of the function's CloudWatch log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "log_group_arn" {
  description = "ARN of the function's CloudWatch log group (without the :* suffix)."
  value       = aws_cloudwatch_log_group.this.arn
}
