# Media fetched from the channels (images, documents, voice notes) and Amazon Transcribe's transcripts: personal data,
# kept only for the few days a burst and its retries may need them, then expired by the lifecycle rule.

data "aws_partition" "current" {}

locals {
  # Built from the name (the "static ARN" of terraform-aws-modules): known at plan, so the TLS-only policy is too.
  bucket_arn = "arn:${data.aws_partition.current.partition}:s3:::${var.bucket_name}"
}

resource "aws_s3_bucket" "this" {
  # checkov:skip=CKV_AWS_18:Transient personal data expired within days; access logs would copy object keys to a longer-lived bucket.
  # checkov:skip=CKV_AWS_21:Versioning would keep deleted media (personal data) past the retention it is expired at.
  # checkov:skip=CKV_AWS_144:Media are re-fetchable from the channel for their short life; a replica would double the personal data.
  # checkov:skip=CKV2_AWS_62:Nothing reacts to new objects: process_message writes and reads them itself.
  bucket = var.bucket_name
  # A bucket still holding media is not deleted by terraform destroy: the lifecycle rule empties it within the retention.
  force_destroy = false

  tags = merge(var.tags, { Name = var.bucket_name })
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id

  # ACLs disabled: every object belongs to the bucket owner, whoever wrote it (Transcribe writes transcripts).
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket = aws_s3_bucket.this.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  # SSE-KMS with the customer managed key when given (an S3 Bucket Key keeps the KMS calls per object down), else SSE-S3.
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.kms_key_arn == null ? "AES256" : "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = var.kms_key_arn != null
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = "expire-media"
    status = "Enabled"

    # Every object: media/ and transcripts/ alike.
    filter {}

    expiration {
      days = var.retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "tls_only" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [local.bucket_arn, "${local.bucket_arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.tls_only.json

  # S3 refuses a policy while the public access block is still being applied (OperationAborted).
  depends_on = [aws_s3_bucket_public_access_block.this]
}
