output "bucket_name" {
  description = "Name of the bucket (known at plan: it is what process_message's MEDIA_BUCKET is set to)."
  value       = aws_s3_bucket.this.bucket
}

output "bucket_arn" {
  description = "ARN of the bucket, for object-level grants (<arn>/media/*)."
  value       = local.bucket_arn
}
