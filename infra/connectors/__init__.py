"""Adapters to external object storage: S3 (boto3) and Google Cloud Storage."""
