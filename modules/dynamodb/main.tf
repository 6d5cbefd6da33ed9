# The one chat-debouncer table: conversation buffers, turns (history) and dedupe records.
# The key schema is not typed here: the caller passes what schemas/dynamodb-table.json says.

resource "aws_dynamodb_table" "this" {
  name                        = var.table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = var.hash_key
  range_key                   = var.range_key
  deletion_protection_enabled = var.deletion_protection_enabled

  dynamic "attribute" {
    for_each = var.attributes

    content {
      name = attribute.value.name
      type = attribute.value.type
    }
  }

  # Buffers, turns and dedupe records all carry an expiry: message text is personal data.
  ttl {
    attribute_name = var.ttl_attribute
    enabled        = true
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery_enabled
  }

  # Without a customer key this uses the AWS managed key (aws/dynamodb).
  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = merge(var.tags, { Name = var.table_name })

  lifecycle {
    precondition {
      condition     = contains([for a in var.attributes : a.name], var.hash_key) && contains([for a in var.attributes : a.name], var.range_key)
      error_message = "Both hash_key and range_key must be declared in attributes."
    }

    precondition {
      condition     = alltrue([for a in var.attributes : contains([var.hash_key, var.range_key], a.name)])
      error_message = "Declare only key attributes: DynamoDB rejects attribute definitions that no key or index uses."
    }
  }
}
