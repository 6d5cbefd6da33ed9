"""reply: Step Functions Task -> send the turn's answer through its channel, never a part twice."""

from debouncer.adapters import cold_start

cold_start.pause_collection()  # before the imports below: debouncer.adapters.cold_start says why

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from debouncer.adapters import snapstart
from debouncer.domain.errors import PermanentError, ReplyLeaseHeldError
from debouncer.domain.privacy import conversation_ref
from debouncer.metrics import Counters
from debouncer.wiring import build_repliers

logger = Logger()
# The clients it uses: the AWS SDK and httpx (the AI and the channels). Patching every library X-Ray knows imports
# requests, sqlite3 and others on each cold start for nothing.
tracer = Tracer(patch_modules=["botocore", "httpx"])
counters = Counters()
repliers = build_repliers()
snapstart.register_hooks()  # after a SnapStart restore: new connections, a new random seed
cold_start.resume_collection()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Input {conversation_key, burst, execution, lease, claimed, ai_failed}; output {delivered}."""
    logger.append_keys(
        conversation_ref=conversation_ref(event["conversation_key"]),
        burst=event["burst"],
        tenant=repliers.tenant_id(event["conversation_key"]),
    )
    # lease: this run's reply token (statemachines/debounce.asl.json.tftpl); a caller without one leases per execution.
    token = event.get("lease") or event["execution"]
    ai_failed = bool(event.get("ai_failed"))
    try:
        result = repliers.for_conversation(event["conversation_key"]).reply(
            event["conversation_key"],
            int(event["burst"]),
            token=token,
            claimed=bool(event["claimed"]),
            ai_failed=ai_failed,
        )
        counters.count("RepliesDelivered", int(result["delivered"]))
        counters.count("Supersedes", int(result["superseded"]))
        if result["lateness_seconds"] is not None:
            counters.record("ReplyLateness", MetricUnit.Seconds, result["lateness_seconds"])
    except ReplyLeaseHeldError:
        raise  # another run of this burst is sending: not a failure, the state machine calls again
    except Exception as error:
        # A failed AI's fallback ends in PermanentError once sent, to dead-letter the burst: AIFailures counted it.
        if not (ai_failed and isinstance(error, PermanentError)):
            counters.count("ReplyFailures")
        if isinstance(error, PermanentError):
            counters.count("DeadLettered")
        raise
    finally:
        counters.publish()
    logger.info("reply done", delivered=result["delivered"])
    return {"delivered": result["delivered"]}  # the rest was for the metrics
