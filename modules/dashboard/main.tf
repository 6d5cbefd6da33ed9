# One CloudWatch dashboard: the alarms' states, the product's own metrics (schemas/metrics.json, published as EMF by
# the functions) and the AWS services' metrics, section by section.

locals {
  # A product metric is found by SEARCH on its namespace, name and service, never by a dimension set: post_message's
  # metrics carry a channel dimension and the others do not, and a metric with one more dimension is another series.
  # SUM folds a count's series (one per channel) into one line. Exact matches of property names, and SEARCH inside
  # SUM: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/search-expression-syntax.html
  search_scope = "Namespace=\"${var.metrics_namespace}\" service=\"${var.service_name}\""

  # Each graph draws `lines` (a product metric with one statistic: `total` sums every series the search finds, else
  # each series is drawn) and `aws` (an AWS metric, whose dimensions are known).
  sections = [
    {
      title = "Intake (post_message)"
      graphs = [
        {
          title = "Messages accepted, by channel"
          lines = [
            # One line per channel, labelled with it (a dynamic label applies to every series a search returns).
            { metric = "MessagesAccepted", stat = "Sum", total = false, label = "$${PROP('Dim.channel')}" },
          ]
          aws = []
        },
        {
          title = "Skipped, duplicate, changed messages and handoffs"
          lines = [
            { metric = "MessagesSkipped", stat = "Sum", total = true, label = "Skipped" },
            { metric = "DuplicatesAbsorbed", stat = "Sum", total = true, label = "Duplicates absorbed" },
            { metric = "MessagesChanged", stat = "Sum", total = true, label = "Edited or deleted" },
            { metric = "Handoffs", stat = "Sum", total = true, label = "Handoffs to a human" },
          ]
          aws = []
        },
        {
          title = "Bursts flushed before a quiet window, by reason"
          lines = [
            { metric = "FlushesKeyword", stat = "Sum", total = true, label = "Keyword" },
            { metric = "FlushesMaxMessages", stat = "Sum", total = true, label = "max_messages" },
            { metric = "FlushesMaxBytes", stat = "Sum", total = true, label = "Buffer size" },
            { metric = "FlushesMaxWait", stat = "Sum", total = true, label = "max_wait_seconds" },
          ]
          aws = []
        },
      ]
    },
    {
      title = "Bursts and the AI (process_message)"
      graphs = [
        {
          title = "Bursts claimed, AI failures, media items"
          lines = [
            { metric = "BurstsClaimed", stat = "Sum", total = true, label = "Bursts claimed" },
            { metric = "AIFailures", stat = "Sum", total = true, label = "AI failures" },
            { metric = "MediaItems", stat = "Sum", total = true, label = "Media items" },
          ]
          aws = []
        },
        {
          # One datum per burst, so these statistics are over bursts.
          title = "Messages per burst"
          lines = [
            { metric = "BurstSize", stat = "Average", total = false, label = "Average" },
            { metric = "BurstSize", stat = "p50", total = false, label = "p50" },
            { metric = "BurstSize", stat = "Maximum", total = false, label = "Maximum" },
          ]
          aws = []
        },
        {
          title = "AI latency (ms)"
          lines = [
            { metric = "AILatency", stat = "p50", total = false, label = "p50" },
            { metric = "AILatency", stat = "p95", total = false, label = "p95" },
            { metric = "AILatency", stat = "p99", total = false, label = "p99" },
          ]
          aws = []
        },
      ]
    },
    {
      title = "Replies (reply) and the dead-letter queue"
      graphs = [
        {
          title = "Replies delivered, failed, superseded"
          lines = [
            { metric = "RepliesDelivered", stat = "Sum", total = true, label = "Delivered" },
            { metric = "ReplyFailures", stat = "Sum", total = true, label = "Failed" },
            { metric = "Supersedes", stat = "Sum", total = true, label = "Superseded" },
          ]
          aws = []
        },
        {
          title = "Reply lateness after the window (s)"
          lines = [
            { metric = "ReplyLateness", stat = "p50", total = false, label = "p50" },
            { metric = "ReplyLateness", stat = "p95", total = false, label = "p95" },
            { metric = "ReplyLateness", stat = "Maximum", total = false, label = "Maximum" },
          ]
          aws = []
        },
        {
          # Both functions count DeadLettered with the same dimensions: one metric, summed over both.
          title = "Dead-lettered bursts"
          lines = [
            { metric = "DeadLettered", stat = "Sum", total = true, label = "Dead-lettered (functions)" },
          ]
          aws = [
            { namespace = "AWS/SQS", metric = "NumberOfMessagesSent", dimensions = { QueueName = var.dead_letter_queue_name }, stat = "Sum", label = "Sent to the DLQ" },
            { namespace = "AWS/SQS", metric = "ApproximateNumberOfMessagesVisible", dimensions = { QueueName = var.dead_letter_queue_name }, stat = "Maximum", label = "On the DLQ" },
          ]
        },
      ]
    },
    {
      title = "Step Functions and Lambda"
      graphs = [
        {
          title = "Executions"
          lines = []
          aws = [
            for metric in ["ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut"] : {
              namespace = "AWS/States", metric = metric, dimensions = { StateMachineArn = var.state_machine_arn }, stat = "Sum", label = trimprefix(metric, "Executions")
            }
          ]
        },
        {
          title = "Lambda invocations"
          lines = []
          aws = [
            for handler, name in var.function_names : {
              namespace = "AWS/Lambda", metric = "Invocations", dimensions = { FunctionName = name }, stat = "Sum", label = handler
            }
          ]
        },
        {
          title = "Lambda errors and throttles"
          lines = []
          aws = flatten([
            for handler, name in var.function_names : [
              for metric in ["Errors", "Throttles"] : {
                namespace = "AWS/Lambda", metric = metric, dimensions = { FunctionName = name }, stat = "Sum", label = "${handler} ${metric}"
              }
            ]
          ])
        },
      ]
    },
    {
      title = "Lambda duration and the HTTP API"
      graphs = [
        {
          title = "Lambda duration (ms)"
          lines = []
          aws = flatten([
            for handler, name in var.function_names : [
              for stat in ["p95", "Maximum"] : {
                namespace = "AWS/Lambda", metric = "Duration", dimensions = { FunctionName = name }, stat = stat, label = "${handler} ${stat}"
              }
            ]
          ])
        },
        {
          title = "HTTP API requests and errors"
          lines = []
          aws = [
            for metric in ["Count", "4xx", "5xx"] : {
              namespace = "AWS/ApiGateway", metric = metric, dimensions = { ApiId = var.api_id }, stat = "Sum", label = metric == "Count" ? "Requests" : metric
            }
          ]
        },
        {
          title = "HTTP API latency (ms)"
          lines = []
          aws = concat(
            [
              for stat in ["p50", "p95", "p99"] : {
                namespace = "AWS/ApiGateway", metric = "Latency", dimensions = { ApiId = var.api_id }, stat = stat, label = "Latency ${stat}"
              }
            ],
            [
              { namespace = "AWS/ApiGateway", metric = "IntegrationLatency", dimensions = { ApiId = var.api_id }, stat = "p95", label = "post_message p95" },
            ],
          )
        },
      ]
    },
  ]

  # The grid is 24 columns wide: the introduction and the alarms span it, then each section is a one-row heading
  # above its graphs, three to a row.
  graph_width      = 8
  graph_height     = 6
  graphs_per_row   = 24 / local.graph_width
  sections_top     = 6
  section_heights  = [for s in local.sections : 1 + ceil(length(s.graphs) / local.graphs_per_row) * local.graph_height]
  section_y        = [for i, s in local.sections : local.sections_top + sum(concat([0], slice(local.section_heights, 0, i)))]
  product_reminder = "Product metrics: namespace `${var.metrics_namespace}`, service `${var.service_name}`. Their graphs search by name, so a metric appears once it has data in the last two weeks."

  widgets = concat(
    [
      {
        type       = "text"
        x          = 0
        y          = 0
        width      = 24
        height     = 2
        properties = { markdown = "# ${var.dashboard_name}\n${local.product_reminder}" }
      },
      {
        type       = "alarm"
        x          = 0
        y          = 2
        width      = 24
        height     = 4
        properties = { title = "Alarms", alarms = var.alarm_arns, sortBy = "stateUpdatedTimestamp" }
      },
    ],
    flatten([
      for i, section in local.sections : concat(
        [{
          type       = "text"
          x          = 0
          y          = local.section_y[i]
          width      = 24
          height     = 1
          properties = { markdown = "## ${section.title}" }
        }],
        [
          for j, graph in section.graphs : {
            type   = "metric"
            x      = (j % local.graphs_per_row) * local.graph_width
            y      = local.section_y[i] + 1 + floor(j / local.graphs_per_row) * local.graph_height
            width  = local.graph_width
            height = local.graph_height
            properties = {
              title   = graph.title
              region  = var.region
              view    = "timeSeries"
              stacked = false
              period  = var.period_seconds
              yAxis   = { left = { min = 0 } }
              metrics = concat(
                [
                  for k, line in graph.lines : [{
                    id         = "e${k + 1}"
                    label      = line.label
                    expression = format(line.total ? "SUM(%s)" : "%s", "SEARCH('${local.search_scope} MetricName=\"${line.metric}\"', '${line.stat}', ${var.period_seconds})")
                  }]
                ],
                [
                  for k, metric in graph.aws : concat(
                    [metric.namespace, metric.metric],
                    flatten([for name, value in metric.dimensions : [name, value]]),
                    [{ id = "m${k + 1}", stat = metric.stat, label = metric.label }],
                  )
                ],
              )
            }
          }
        ],
      )
    ]),
  )
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.dashboard_name
  dashboard_body = jsonencode({
    start          = var.time_range
    periodOverride = "inherit"
    widgets        = local.widgets
  })
}
