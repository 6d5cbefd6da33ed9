"""process_message: Step Functions Task -> claim the burst once, record the turn, call the AI."""

from debouncer.adapters import cold_start

cold_start.pause_collection()  # before the imports below: debouncer.adapters.cold_start says why

import time
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from debouncer.adapters import snapstart
from debouncer.domain.errors import BurstNotDueError, PermanentError
from debouncer.domain.privacy import conversation_ref
from debouncer.metrics import Counters
from debouncer.wiring import build_processors

logger = Logger()
# The clients it uses: the AWS SDK and httpx (the AI and the channels). Patching every library X-Ray knows imports
# requests, sqlite3 and others on each cold start for nothing.
tracer = Tracer(patch_modules=["botocore", "httpx"])
counters = Counters()
processors = build_processors()
snapstart.register_hooks()  # after a SnapStart restore: new connections, a new random seed
cold_start.resume_collection()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Input {conversation_key, burst, execution, flush}; output {claimed, ...}."""
    logger.append_keys(
        conversation_ref=conversation_ref(event["conversation_key"]),
        burst=event["burst"],
        tenant=processors.tenant_id(event["conversation_key"]),
    )
    # When Lambda stops this invocation, on the processor's clock: a hanging AI must end before it, as an AI failure.
    deadline = time.time() + context.get_remaining_time_in_millis() / 1000
    try:
        # The conversation's tenant's (its key names the channel account), or the deployment's.
        processor = processors.for_conversation(event["conversation_key"])
        result = processor.process(
            event["conversation_key"],
            int(event["burst"]),
            claimer=event["execution"],
            deadline=deadline,
            # Only a payload that says it is no flush: an execution started before the state machine passed `flush`
            # (it keeps its definition) reaches Process only when due, or for a flush.
            only_if_due=event.get("flush") is False,
        )
    except BurstNotDueError as not_due:
        # Woken to a deadline a later message moved: the state machine reads the buffer and sleeps again.
        logger.info("burst not due yet", reason=str(not_due))
        raise
    except PermanentError:
        # Claimed, then the AI failed for good with no fallback configured: the burst is dead-lettered.
        counters.count("BurstsClaimed")
        counters.count("AIFailures")
        counters.count("DeadLettered")
        raise
    else:
        _count(result)
    finally:
        counters.publish()
    logger.info("burst processed", claimed=result["claimed"], ai_failed=result["ai_failed"])
    return result


def _count(result: dict[str, Any]) -> None:
    counters.count("BurstsClaimed", int(result["claimed"]))
    counters.count("AIFailures", int(result["ai_failed"]))
    if result["claimed"]:
        counters.record("BurstSize", MetricUnit.Count, result["messages"])
        counters.count("MediaItems", result["media_items"])
        counters.count("FlushesMaxWait", int(result["claimed_at_max_wait"]))
        if result["ai_latency_ms"] is not None:
            counters.record("AILatency", MetricUnit.Milliseconds, result["ai_latency_ms"])
