# One Lambda function: its role, its least-privilege inline policy, its log group and the function.
# The caller passes every policy statement (including the log and X-Ray ones), so the complete
# grant of each function is visible in one place at the root (local.lambda_permissions).

data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

data "aws_iam_policy_document" "assume" {
  statement {
    sid     = "LambdaAssume"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "this" {
  # IAM is global: the Region in the name lets the same name_prefix deploy in a second Region.
  name               = "${var.function_name}-${data.aws_region.current.region}"
  description        = "Execution role of the ${var.function_name} Lambda function."
  assume_role_policy = data.aws_iam_policy_document.assume.json

  tags = var.tags
}

data "aws_iam_policy_document" "this" {
  dynamic "statement" {
    for_each = var.policy_statements

    content {
      sid       = statement.value.sid
      effect    = "Allow"
      actions   = statement.value.actions
      resources = statement.value.resources

      dynamic "condition" {
        for_each = statement.value.conditions

        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "${var.function_name}-least-privilege"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json

  lifecycle {
    precondition {
      condition = alltrue(flatten([
        for s in var.policy_statements : [
          for r in s.resources : startswith(r, "${aws_cloudwatch_log_group.this.arn}:")
        ] if anytrue([for a in s.actions : startswith(a, "logs:")])
      ]))
      error_message = "CloudWatch Logs permissions must be scoped to this function's own log group."
    }
  }
}

resource "aws_cloudwatch_log_group" "this" {
  # checkov:skip=CKV_AWS_338:Retention is an operator setting; these logs hold ids and counts, never message text.
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

resource "aws_lambda_function" "this" {
  # checkov:skip=CKV_AWS_116:Invoked synchronously by API Gateway and Step Functions; failures go to the state machine's DLQ.
  # checkov:skip=CKV_AWS_117:Calls only public AWS and channel endpoints; no VPC resources to reach.
  # checkov:skip=CKV_AWS_272:Code signing is out of scope; the package is built reproducibly by make package.
  function_name = var.function_name
  description   = var.description
  role          = aws_iam_role.this.arn

  filename         = var.filename
  source_code_hash = filebase64sha256(var.filename)
  handler          = var.handler
  runtime          = var.runtime
  architectures    = [var.architecture]
  layers           = var.layers

  memory_size                    = var.memory_size
  timeout                        = var.timeout
  reserved_concurrent_executions = var.reserved_concurrent_executions
  kms_key_arn                    = var.kms_key_arn

  environment {
    variables = var.environment_variables
  }

  tracing_config {
    mode = var.tracing_mode
  }

  # Powertools already writes structured JSON; "Text" keeps Lambda's own level filter out of the way
  # so LOG_LEVEL alone decides what is logged.
  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.this.name
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.this]
}
