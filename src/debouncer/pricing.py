"""AWS list prices of the cost figures (`make bench`, `debouncer tune`): us-east-1, on-demand, free tiers left out,
first volume tier.

Taken from the AWS pricing pages below as published when this file was written (2026-11-22), as known to its
author; no price API was queried. Check the pages before quoting a figure: a price change means editing this file.
"""

from __future__ import annotations

from dataclasses import dataclass

REGION = "us-east-1"
AS_OF = "2026-11-22"

API_GATEWAY_PAGE = "https://aws.amazon.com/api-gateway/pricing/"
LAMBDA_PAGE = "https://aws.amazon.com/lambda/pricing/"
DYNAMODB_PAGE = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
STEP_FUNCTIONS_PAGE = "https://aws.amazon.com/step-functions/pricing/"
SQS_PAGE = "https://aws.amazon.com/sqs/pricing/"


@dataclass(frozen=True)
class Price:
    """One list price: `dollars` per `per` units of `unit`, and the page it comes from."""

    dollars: float
    per: float
    unit: str
    source: str

    @property
    def each(self) -> float:
        """Dollars per single unit."""
        return self.dollars / self.per

    def __str__(self) -> str:
        amount = f"{self.dollars:.10f}".rstrip("0").rstrip(".")
        per = "" if self.per == 1 else f"{self.per:,.0f} "
        return f"${amount} per {per}{self.unit} ({self.source})"


# HTTP APIs: first 300 million requests a month, metered in 512 KB increments.
API_GATEWAY_HTTP_REQUEST = Price(1.00, 1_000_000, "HTTP API requests", API_GATEWAY_PAGE)
LAMBDA_REQUEST = Price(0.20, 1_000_000, "Lambda requests", LAMBDA_PAGE)
# Duration is billed per 1 ms at the configured memory; first tier (7.5 billion GB-s a month on arm64).
LAMBDA_GB_SECOND = {
    "arm64": Price(0.0000133334, 1, "Lambda GB-second (arm64)", LAMBDA_PAGE),
    "x86_64": Price(0.0000166667, 1, "Lambda GB-second (x86_64)", LAMBDA_PAGE),
}
# On-demand capacity mode, after the November 2024 price reduction.
DYNAMODB_WRITE_REQUEST_UNIT = Price(0.625, 1_000_000, "DynamoDB write request units", DYNAMODB_PAGE)
DYNAMODB_READ_REQUEST_UNIT = Price(0.125, 1_000_000, "DynamoDB read request units", DYNAMODB_PAGE)
STANDARD_STATE_TRANSITION = Price(0.025, 1_000, "Standard state transitions", STEP_FUNCTIONS_PAGE)
EXPRESS_REQUEST = Price(1.00, 1_000_000, "Express requests", STEP_FUNCTIONS_PAGE)
# First 1,000 GB-hours a month ($0.03 the next 4,000, then $0.01642): an upper bound at volume.
EXPRESS_GB_HOUR = Price(0.06, 1, "Express GB-hour (first 1,000 GB-hours)", STEP_FUNCTIONS_PAGE)
# Express bills each execution's duration rounded up to 100 ms, and its memory in 64 MB chunks (about 50 MB plus
# the definition and the payload).
EXPRESS_DURATION_INCREMENT_S = 0.1
EXPRESS_MEMORY_MB = 64
SQS_REQUEST = Price(0.40, 1_000_000, "SQS standard queue requests", SQS_PAGE)

ALL: dict[str, Price] = {
    "api_gateway_http_request": API_GATEWAY_HTTP_REQUEST,
    "lambda_request": LAMBDA_REQUEST,
    "lambda_gb_second_arm64": LAMBDA_GB_SECOND["arm64"],
    "lambda_gb_second_x86_64": LAMBDA_GB_SECOND["x86_64"],
    "dynamodb_write_request_unit": DYNAMODB_WRITE_REQUEST_UNIT,
    "dynamodb_read_request_unit": DYNAMODB_READ_REQUEST_UNIT,
    "standard_state_transition": STANDARD_STATE_TRANSITION,
    "express_request": EXPRESS_REQUEST,
    "express_gb_hour": EXPRESS_GB_HOUR,
    "sqs_request": SQS_REQUEST,
}
