# The debounce timer: one execution per burst, on a Standard or an Express state machine. The definition is the
# repository's one ASL file (statemachines/debounce.asl.json.tftpl), rendered here with templatefile(): the tests execute
# the same file, for both workflow types.

data "aws_caller_identity" "current" {}

# The definition's service-integration ARNs (arn:<partition>:states:::...) differ in aws-cn and aws-us-gov.
data "aws_partition" "current" {}

data "aws_region" "current" {}

data "aws_iam_policy_document" "assume" {
  statement {
    sid     = "StatesAssume"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "this" {
  # IAM is global: the Region in the name lets the same name deploy in a second Region.
  name               = "${var.name}-${data.aws_region.current.region}"
  description        = "Execution role of the ${var.name} state machine."
  assume_role_policy = data.aws_iam_policy_document.assume.json

  tags = var.tags
}

data "aws_iam_policy_document" "this" {
  statement {
    sid     = "InvokeBurstFunctions"
    actions = ["lambda:InvokeFunction"]
    # A qualified ARN (SnapStart's alias) is invoked as exactly that; an unqualified one as the function and any of
    # its versions and aliases.
    resources = flatten([
      for arn in [var.process_message_function_arn, var.reply_function_arn] :
      length(split(":", arn)) == 8 ? [arn] : [arn, "${arn}:*"]
    ])
  }

  statement {
    sid       = "ReadBuffer"
    actions   = ["dynamodb:GetItem"]
    resources = [var.table_arn]
  }

  statement {
    sid       = "DeadLetter"
    actions   = ["sqs:SendMessage"]
    resources = [var.dead_letter_queue_arn]
  }

  # Log delivery APIs do not support resource-level permissions.
  statement {
    sid = "LogDelivery"
    actions = [
      "logs:CreateLogDelivery",
      "logs:GetLogDelivery",
      "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies",
      "logs:DescribeLogGroups",
    ]
    resources = ["*"]
  }

  statement {
    sid = "XRay"
    actions = [
      "xray:PutTraceSegments",
      "xray:PutTelemetryRecords",
      "xray:GetSamplingRules",
      "xray:GetSamplingTargets",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "${var.name}-least-privilege"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

resource "aws_cloudwatch_log_group" "this" {
  # checkov:skip=CKV_AWS_338:Retention is an operator setting; execution data is not logged.
  name              = "/aws/vendedlogs/states/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

resource "aws_sfn_state_machine" "this" {
  # checkov:skip=CKV_AWS_285:Execution history is logged; execution data only if ops opt in: it holds message text (personal data).
  name     = var.name
  type     = var.workflow_type
  role_arn = aws_iam_role.this.arn

  definition = templatefile(var.definition_path, {
    partition                         = data.aws_partition.current.partition
    table_name                        = var.table_name
    process_message_function_arn      = var.process_message_function_arn
    reply_function_arn                = var.reply_function_arn
    dead_letter_queue_url             = var.dead_letter_queue_url
    transient_retry_max_attempts      = var.transient_retry.max_attempts
    transient_retry_max_delay_seconds = var.transient_retry.max_delay_seconds
    timeout_retry_max_attempts        = var.timeout_retry_max_attempts
  })

  # Standard keeps 90 days of execution history in Step Functions itself; Express keeps none, so for Express these
  # logs are the only record of what an execution did.
  logging_configuration {
    log_destination = "${aws_cloudwatch_log_group.this.arn}:*"
    level           = var.log_level
    # Execution input and state output carry message text, which is personal data.
    include_execution_data = var.log_include_execution_data
  }

  tracing_configuration {
    enabled = true
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.workflow_type != "EXPRESS" || var.log_level != "OFF"
      error_message = "An EXPRESS state machine keeps no execution history of its own: log_level must be ERROR, FATAL or ALL."
    }
  }

  depends_on = [aws_iam_role_policy.this]
}
