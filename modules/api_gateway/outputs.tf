output "api_id" {
  description = "ID of the HTTP API."
  value       = aws_apigatewayv2_api.this.id
}

output "api_endpoint" {
  description = "Base URL of the API ($default stage, no trailing slash)."
  value       = aws_apigatewayv2_api.this.api_endpoint
}

output "execution_arn" {
  description = "Execution ARN of the API (prefix of the invoke permissions)."
  value       = aws_apigatewayv2_api.this.execution_arn
}

output "stage_name" {
  description = "Name of the auto-deployed stage."
  value       = aws_apigatewayv2_stage.this.name
}

output "route_keys" {
  description = "Route keys served by the API, admin routes included."
  value       = sort(concat(tolist(local.route_keys), tolist(var.admin_route_keys)))
}

output "admin_route_arns" {
  description = "execute-api ARN of each admin route, by route key (what execute-api:Invoke is granted on)."
  value       = local.admin_route_arns
}

output "admin_policy_json" {
  description = "IAM policy document allowing execute-api:Invoke on exactly the admin routes; null without admin routes."
  value       = one(data.aws_iam_policy_document.admin[*].json)
}

output "access_log_group_name" {
  description = "Name of the access log group."
  value       = aws_cloudwatch_log_group.access.name
}
