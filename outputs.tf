output "api_endpoint" {
  description = "Base URL of the webhook API."
  value       = module.api_gateway.api_endpoint
}

output "whatsapp_webhook_url" {
  description = "Callback URL to register in the Meta app for WhatsApp (GET verify + POST)."
  value       = "${module.api_gateway.api_endpoint}/webhook/whatsapp"
}

output "telegram_webhook_url" {
  description = "URL to pass to Telegram setWebhook (with secret_token)."
  value       = "${module.api_gateway.api_endpoint}/webhook/telegram"
}

output "instagram_webhook_url" {
  description = "Callback URL to register in the Meta app for Instagram (GET verify + POST)."
  value       = "${module.api_gateway.api_endpoint}/webhook/instagram"
}

output "generic_webhook_url" {
  description = "URL of the HMAC-signed generic JSON channel."
  value       = "${module.api_gateway.api_endpoint}/webhook/generic"
}

output "webhook_urls" {
  description = "Webhook URL of every channel, by channel."
  value       = { for c in ["whatsapp", "telegram", "instagram", "generic"] : c => "${module.api_gateway.api_endpoint}/webhook/${c}" }
}

output "telegram_tenant_webhook_urls" {
  description = "URL to pass to Telegram setWebhook (with the tenant's secret_token) for each Telegram tenant's bot, by tenant id: Telegram's updates do not name the bot, the path does."
  value       = { for id, t in local.tenants : id => "${module.api_gateway.api_endpoint}/webhook/telegram/${id}" if t.channel == "telegram" }
}

output "health_url" {
  description = "Health check URL (GET)."
  value       = "${module.api_gateway.api_endpoint}/health"
}

output "admin_api_url" {
  description = "Base URL of the admin API: POST <url>/pause, POST <url>/resume, GET <url>/status. IAM-authorized: sign each request with SigV4 (service execute-api) as a principal holding admin_api_policy_json."
  value       = "${module.api_gateway.api_endpoint}/admin/conversations"
}

output "admin_api_policy_json" {
  description = "IAM policy document allowing execute-api:Invoke on exactly the three admin routes (pause, resume, status): attach it to the role or user that administers conversations."
  value       = module.api_gateway.admin_policy_json
}

output "table_name" {
  description = "Name of the DynamoDB table (buffers, turns, dedupe records)."
  value       = module.dynamodb.table_name
}

output "table_arn" {
  description = "ARN of the DynamoDB table."
  value       = module.dynamodb.table_arn
}

output "media_bucket_name" {
  description = "Name of the S3 bucket of fetched media and transcripts (expired after media_retention_days)."
  value       = module.media_bucket.bucket_name
}

output "media_bucket_arn" {
  description = "ARN of the media bucket (for a customer managed key's policy or an audit)."
  value       = module.media_bucket.bucket_arn
}

output "state_machine_arn" {
  description = "ARN of the debounce state machine."
  value       = module.step_functions.state_machine_arn
}

output "workflow_type" {
  description = "Workflow type of the state machine (STANDARD or EXPRESS). Express executions are not listed by Step Functions: their history is in the state machine's CloudWatch log group."
  value       = module.step_functions.workflow_type
}

output "state_machine_log_group_name" {
  description = "CloudWatch log group of the state machine's execution logs."
  value       = module.step_functions.log_group_name
}

output "dead_letter_queue_url" {
  description = "URL of the dead-letter queue (bursts that could not be answered)."
  value       = module.queue.queue_url
}

output "lambda_function_names" {
  description = "Name of each Lambda function, by handler."
  value       = { for k, m in module.lambda : k => m.function_name }
}

output "lambda_invoke_target_arns" {
  description = "ARN API Gateway and the state machine invoke each function by, by handler: its `live` alias with snap_start, the function otherwise."
  value       = { for k, m in module.lambda : k => m.invoke_target_arn }
}

output "lambda_role_arns" {
  description = "Execution role ARN of each Lambda function (for a customer managed key's policy)."
  value       = { for k, m in module.lambda : k => m.role_arn }
}

output "state_machine_role_arn" {
  description = "Execution role ARN of the state machine (for a customer managed key's policy)."
  value       = module.step_functions.role_arn
}

output "alarm_names" {
  description = "Names of the CloudWatch alarms."
  value       = module.alarms.alarm_names
}

output "dashboard_url" {
  description = "CloudWatch console URL of the dashboard (alarms, the product's metrics, the AWS services'), in its partition's console; null with create_dashboard = false or in a partition without a public console."
  value = one([
    for d in module.dashboard : "https://${local.console_hosts[local.partition]}/cloudwatch/home?region=${local.region}#dashboards/dashboard/${d.dashboard_name}"
    if contains(keys(local.console_hosts), local.partition)
  ])
}
