"""AWS list prices the cost figures use: the table lives in debouncer.pricing (src/ must not import bench/)."""

from __future__ import annotations

from debouncer.pricing import (
    ALL,
    API_GATEWAY_HTTP_REQUEST,
    API_GATEWAY_PAGE,
    AS_OF,
    DYNAMODB_PAGE,
    DYNAMODB_READ_REQUEST_UNIT,
    DYNAMODB_WRITE_REQUEST_UNIT,
    EXPRESS_DURATION_INCREMENT_S,
    EXPRESS_GB_HOUR,
    EXPRESS_MEMORY_MB,
    EXPRESS_REQUEST,
    LAMBDA_GB_SECOND,
    LAMBDA_PAGE,
    LAMBDA_REQUEST,
    REGION,
    SQS_PAGE,
    SQS_REQUEST,
    STANDARD_STATE_TRANSITION,
    STEP_FUNCTIONS_PAGE,
    Price,
)

__all__ = [
    "ALL",
    "API_GATEWAY_HTTP_REQUEST",
    "API_GATEWAY_PAGE",
    "AS_OF",
    "DYNAMODB_PAGE",
    "DYNAMODB_READ_REQUEST_UNIT",
    "DYNAMODB_WRITE_REQUEST_UNIT",
    "EXPRESS_DURATION_INCREMENT_S",
    "EXPRESS_GB_HOUR",
    "EXPRESS_MEMORY_MB",
    "EXPRESS_REQUEST",
    "LAMBDA_GB_SECOND",
    "LAMBDA_PAGE",
    "LAMBDA_REQUEST",
    "REGION",
    "SQS_PAGE",
    "SQS_REQUEST",
    "STANDARD_STATE_TRANSITION",
    "STEP_FUNCTIONS_PAGE",
    "Price",
]
