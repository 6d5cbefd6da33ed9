"""post_message: API Gateway HTTP API (payload 2.0) -> verify, normalize, buffer, start the burst's timer."""

from debouncer.adapters import cold_start

cold_start.pause_collection()  # before the imports below: debouncer.adapters.cold_start says why

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from debouncer.adapters import snapstart
from debouncer.metrics import Counters
from debouncer.wiring import build_webhook_app

logger = Logger()
# Only the AWS SDK: this function makes no other HTTP calls, and patching httpx would import it on every cold start.
tracer = Tracer(patch_modules=["botocore"])
counters = Counters()
app = build_webhook_app(counters=counters)
snapstart.register_hooks()  # after a SnapStart restore: new connections, a new random seed
cold_start.resume_collection()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Answer the channel within milliseconds; the AI runs later, in the state machine."""
    try:
        return app.resolve(event, context)
    finally:
        counters.publish()
