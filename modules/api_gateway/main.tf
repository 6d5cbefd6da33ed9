# HTTP API in front of post_message: the channel webhooks and a health check, open at the gateway (post_message checks
# each channel's signature), and the operators' admin routes, authorized by IAM; all proxied to one function.

locals {
  # ANY, not GET and POST: post_message answers every other method with a JSON 405 naming the allowed ones, which
  # a channel or an operator can act on; a route per method would leave them API Gateway's bare 404.
  # A Telegram tenant's bot posts to its own path (Telegram's updates do not name the bot they are for): post_message
  # finds the tenant by the last segment, and answers 404 for one it does not know.
  route_keys = toset([
    "ANY /webhook/{channel}",
    "ANY /webhook/telegram/{tenant}",
    "ANY /health",
  ])

  # execute-api ARN of each admin route: <API execution ARN>/<stage>/<METHOD>/<path>, the resource IAM authorizes a
  # signed request against (the request's own method: hence explicit methods only, never ANY).
  admin_route_arns = {
    for k in var.admin_route_keys : k => "${aws_apigatewayv2_api.this.execution_arn}/${aws_apigatewayv2_stage.this.name}/${replace(k, " ", "")}"
  }
}

resource "aws_apigatewayv2_api" "this" {
  name          = var.name
  description   = "chat-debouncer channel webhooks."
  protocol_type = "HTTP"

  tags = var.tags
}

resource "aws_apigatewayv2_integration" "this" {
  api_id                 = aws_apigatewayv2_api.this.id
  integration_type       = "AWS_PROXY"
  integration_method     = "POST"
  integration_uri        = var.lambda_function_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = var.integration_timeout_milliseconds
}

resource "aws_apigatewayv2_route" "this" {
  # checkov:skip=CKV_AWS_309:Channels cannot send IAM or JWT credentials; post_message verifies each channel's signature or secret token, and /health is public by design.
  for_each = local.route_keys

  api_id             = aws_apigatewayv2_api.this.id
  route_key          = each.value
  authorization_type = "NONE"
  target             = "integrations/${aws_apigatewayv2_integration.this.id}"
}

# The admin routes: the same integration, but API Gateway invokes it only for a SigV4-signed request of a principal
# allowed execute-api:Invoke on the route (the admin_policy_json output). No route matches another method or path
# under /admin, so nothing there reaches the function unauthenticated.
resource "aws_apigatewayv2_route" "admin" {
  for_each = var.admin_route_keys

  api_id             = aws_apigatewayv2_api.this.id
  route_key          = each.value
  authorization_type = "AWS_IAM"
  target             = "integrations/${aws_apigatewayv2_integration.this.id}"
}

# What an operator needs to call the admin routes, and nothing else of the API.
data "aws_iam_policy_document" "admin" {
  count = length(var.admin_route_keys) > 0 ? 1 : 0

  statement {
    sid       = "InvokeAdminRoutes"
    effect    = "Allow"
    actions   = ["execute-api:Invoke"]
    resources = [for k in sort(tolist(var.admin_route_keys)) : local.admin_route_arns[k]]
  }
}

resource "aws_cloudwatch_log_group" "access" {
  # checkov:skip=CKV_AWS_338:Retention is an operator setting; access logs hold request metadata only.
  name              = "/aws/apigateway/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

resource "aws_apigatewayv2_stage" "this" {
  api_id      = aws_apigatewayv2_api.this.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_burst_limit = var.throttling_burst_limit
    throttling_rate_limit  = var.throttling_rate_limit
  }

  # Request metadata only: no body, no query string (the Meta verify token travels in it).
  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      requestTime        = "$context.requestTime"
      sourceIp           = "$context.identity.sourceIp"
      httpMethod         = "$context.httpMethod"
      routeKey           = "$context.routeKey"
      path               = "$context.path"
      status             = "$context.status"
      protocol           = "$context.protocol"
      responseLength     = "$context.responseLength"
      responseLatency    = "$context.responseLatency"
      integrationLatency = "$context.integrationLatency"
      integrationError   = "$context.integrationErrorMessage"
    })
  }

  tags = var.tags
}

resource "aws_lambda_permission" "this" {
  statement_id  = "AllowHttpApiInvoke"
  action        = "lambda:InvokeFunction"
  function_name = var.lambda_function_name
  qualifier     = var.lambda_qualifier
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this.execution_arn}/*/*"

  lifecycle {
    # Permission on one qualifier and invocations of another would be AccessDenied at the first webhook.
    precondition {
      condition     = var.lambda_qualifier == null ? length(split(":", var.lambda_function_arn)) == 7 : endswith(var.lambda_function_arn, ":${var.lambda_qualifier}")
      error_message = "lambda_function_arn must be qualified by exactly lambda_qualifier (or, with none, unqualified)."
    }
  }
}
