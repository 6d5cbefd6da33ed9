# One Lambda function: its role, its least-privilege inline policy, its log group and the function.
# The caller passes every policy statement (including the log and X-Ray ones), so the complete
# grant of each function is visible in one place at the root (local.lambda_permissions).

locals {
  alias_name = "live"
}

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

  # SnapStart snapshots a published version after its init: every change publishes one, which the alias then serves.
  publish = var.snap_start

  dynamic "snap_start" {
    for_each = var.snap_start ? ["PublishedVersions"] : []

    content {
      apply_on = snap_start.value
    }
  }

  # Powertools already writes structured JSON; "Text" keeps Lambda's own level filter out of the way
  # so LOG_LEVEL alone decides what is logged.
  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.this.name
  }

  tags = var.tags

  lifecycle {
    # The runtime variable's own validation may not refer to snap_start on Terraform < 1.9.
    precondition {
      condition     = !var.snap_start || can(regex("^python3\\.(1[2-9]|[2-9][0-9])$", var.runtime))
      error_message = "snap_start needs a Python 3.12 or later runtime, not ${var.runtime}."
    }
  }

  depends_on = [aws_iam_role_policy.this]
}

# What API Gateway and Step Functions invoke with SnapStart on: the latest published version, through a stable name.
# Invoking the unqualified function would run $LATEST, which SnapStart never snapshots.
resource "aws_lambda_alias" "this" {
  count = var.snap_start ? 1 : 0

  name             = local.alias_name
  description      = "The latest published version of ${var.function_name}, restored from its SnapStart snapshot."
  function_name    = aws_lambda_function.this.function_name
  function_version = aws_lambda_function.this.version
}
