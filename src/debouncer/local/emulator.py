"""moto in-process for DynamoDB, SQS and Step Functions, with Lambda Task invokes dispatched to our handlers.

moto is not thread-safe (concurrent UpdateItems lose list_append writes), so every emulated AWS request is
serialized by one re-entrant lock, never held across a Lambda invoke: that call runs our handler and the AI.

moto (5.2.5) records a state machine's type but runs every execution as Standard: StartExecution deduplicates by
name, execution ARNs have the Standard form, no duration limit. For EXPRESS state machines this emulator does what AWS
does instead: every StartExecution starts a new execution (names are not deduplicated) with an ARN of the form
arn:aws:states:<region>:<account>:express:<state machine>:<name>:<uuid>; an execution still running after
`express_time_limit` (300 s) times out; ListExecutions, DescribeExecution, GetExecutionHistory and StopExecution are
refused to our functions (AWS refuses them for Express). At-least-once delivery is emulated on demand: `duplicate()`
runs an execution once more under the same ARN, and `express_duplicates` does so for that share of executions.

What moto redoes on every execution and never changes is done once: the definition's parse, its JSONPaths' parse,
and the boto3 clients of its SDK tasks (212 -> 81 ms of CPU per 3-message burst).

Our functions run as Lambda runs them (debouncer.local.environments): each `deploy()`ed function has a pool of
execution environments, each a thread with its own loaded handler module, initialised once (its cold start, timed)
and serving one invocation at a time; concurrent invocations get other environments, created on demand. Threads,
not processes: the tests inject faults in-process (handler wrappers, `faults` hooks that read the invoking thread's
state, the in-process outbox), so an invocation's AWS requests are served on the invoking thread, and Powertools'
process-wide per-request state (the event handler's current event, the Logger's keys, the cold-start flags) is made
per thread while an emulator runs. What stays shared: the process itself (os.environ, sys.modules: the library modules
are imported once, so an environment's init after the first excludes their import), the GIL, and the local outbox.
Each function has a timeout: an invocation still running at its deadline is reported as Lambda reports it (a
`Sandbox.Timedout` function error, which Step Functions reports as `Lambda.Unknown`), its environment is discarded,
and the emulator refuses every AWS request it makes afterwards (its thread cannot be killed: non-AWS work goes on).
Lambda's limits hold too: past its reserved concurrency an invoke is throttled (429 TooManyRequestsException, which
Step Functions names Lambda.TooManyRequestsException), and a synchronous event or response over 6 MB is refused
(413 RequestTooLargeException; the function error Function.ResponseSizeTooLarge). Step Functions' 256 KiB state
data limit (States.DataLimitExceeded) is moto's own.
"""

from __future__ import annotations

import copy
import functools
import heapq
import json
import math
import random
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber
from moto.stepfunctions.models import StepFunctionBackend
from moto.stepfunctions.parser.api import InvalidExecutionInput, StateMachineType
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.component import Component
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.state import state as state_module
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_dynamodb,
    state_task_service_sqs,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_lambda import (
    StateTaskServiceLambda,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.timestamp import Timestamp
from moto.stepfunctions.parser.asl.eval.states import StateData
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client, json_path
from moto.stepfunctions.parser.backend.execution import Execution
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from debouncer.local.environments import (
    FunctionPool,
    FunctionThrottled,
    InvocationTimedOut,
    LambdaContext,
    RequestTooLarge,
    current_invocation,
    error_payload,
    isolate_powertools,
    threads_join_their_invocation,
)
from debouncer.local.transactions import item_level_rollback

__all__ = [
    "Emulator",
    "FunctionThrottled",
    "InvocationTimedOut",
    "LambdaContext",
    "RequestTooLarge",
    "aws_timestamp",
    "iam_actions",
]

Handler = Callable[[dict[str, Any], Any], Any]
# A fault hook sees (caller, "service:Operation") before the request runs; a tuple it returns is the response.
FaultHook = Callable[[str, str], "tuple[int, dict[str, str], str] | None"]
Response = tuple[int, dict[str, str], str | bytes]
TableWriteListener = Callable[[str, "bytes | str | None"], None]
# The DynamoDB requests that change items: the local console rebuilds the conversations they touch.
TABLE_WRITES = frozenset(
    {
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:TransactWriteItems",
        "dynamodb:BatchWriteItem",
    }
)

_ORIGINAL_PROCESS_REQUEST = BotocoreStubber.process_request
_ORIGINAL_WAIT_SECONDS = Timestamp._get_wait_seconds
_ORIGINAL_START_EXECUTION = StepFunctionsParserBackend.start_execution
_ORIGINAL_ENTRYPOINT = ExecutionWorker._get_evaluation_entrypoint
# moto parses every JSONPath again each time a state reads one; the parsed expressions are immutable.
_JSON_PATH_MODULES: dict[Any, Callable[[str], Any]] = {
    json_path: json_path.parse,  # type: ignore[attr-defined]
    result_path: result_path.parse,  # type: ignore[attr-defined]
}
# moto builds a new boto3 client for every SDK task a state runs (tens of ms, under the emulator's lock when a
# burst opens); the modules whose tasks our definition uses get one client per (region, service) instead.
_TASK_CLIENT_MODULES = (lambda_eval_utils, state_task_service_dynamodb, state_task_service_sqs)
_ORIGINAL_BOTO_CLIENT_FOR = boto_client.boto_client_for
_ORIGINAL_EXEC_ARN_FORMAT = StepFunctionBackend.accepted_exec_arn_format
_ORIGINAL_LAMBDA_FROM_ERROR = StateTaskServiceLambda._from_error
# Function errors the Lambda service reports itself (the function never returned): Step Functions names them
# Lambda.Unknown ("Unhandled errors in Lambda are reported as Lambda.Unknown ... out-of-memory errors and function
# timeouts"); moto names every function error after the payload's errorType.
SANDBOX_ERRORS = frozenset({"Sandbox.Timedout", "Runtime.OutOfMemory", "Runtime.ExitError"})
# Execution ARNs of both types, so the operator's own look-ups (tests, bench) still find Express executions.
_EXEC_ARN_FORMAT = re.compile(r"arn:aws[a-zA-Z-]*:states:[-0-9a-zA-Z]+:(?P<account_id>\d{12}):(execution|express):.+")
EXPRESS_TIME_LIMIT_SECONDS = 300.0
# What AWS does not support for Express executions, so our functions must never depend on it.
EXPRESS_UNSUPPORTED = {
    "states:ListExecutions",
    "states:DescribeExecution",
    "states:GetExecutionHistory",
    "states:StopExecution",
    "states:DescribeStateMachineForExecution",
    "states:RedriveExecution",
}
_active: Emulator | None = None


def _wait_seconds_rounded_up(self: Timestamp, env: Any) -> int:
    # moto truncates the delta and compares against local time, waking up to a second early and busy-looping;
    # AWS wakes at the timestamp. Round up, in UTC.
    self.string.eval(env=env)
    stamp = self._from_timestamp_string(env.stack.pop())
    if stamp is None:
        return _ORIGINAL_WAIT_SECONDS(self, env)
    delta = stamp.replace(tzinfo=UTC) - datetime.now(UTC)
    return max(0, math.ceil(delta.total_seconds()))


# moto parses the definition again for every execution (antlr: over half the emulator's CPU under load). A parsed
# program is a tree of declarations: evaluation state lives in each execution's environment, keyed by every
# component's heap_key, which is fixed once here so that executions sharing the tree cannot race to set it. Our
# definition has no Map or Parallel state, the only ones that keep state on their components.
_programs: dict[str, EvalComponent] = {}
_programs_lock = threading.Lock()


def _shared_entrypoint(worker: ExecutionWorker) -> EvalComponent:
    definition = worker._evaluation_details.state_machine_details.definition
    with _programs_lock:
        program = _programs.get(definition)
        if program is None:
            program = _programs[definition] = AmazonStateLanguageParser.parse(definition)[0]
            _fix_heap_keys(program, set())
    return program


def _fix_heap_keys(node: Any, seen: set[int]) -> None:
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, EvalComponent):
        _ = node.heap_key
    if isinstance(node, Component):
        children: Any = vars(node).values()
    elif isinstance(node, dict):
        children = node.values()
    else:
        children = node
    for child in children:
        if isinstance(child, Component | list | tuple | dict):
            _fix_heap_keys(child, seen)


# Tests set it to write every EnteredTime as a whole second without a fraction ("...:SSZ"), the form the definition's
# "now" must also survive.
ENTERED_TIME_WHOLE_SECONDS = False


def aws_timestamp(iso: str, *, whole_seconds: bool = False) -> str:
    """An ISO 8601 time as Step Functions writes $$.State.EnteredTime: UTC, milliseconds, "Z" (or none: whole_seconds).

    moto writes Python's isoformat(), which drops the fraction when the microseconds are 0 (once in a million
    entries): the definition's "now" (EnteredTime cut at its ".") then became no timestamp at all and failed the
    execution.
    """
    moment = datetime.fromisoformat(iso).astimezone(UTC)
    if whole_seconds:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _state_data(EnteredTime: str, Name: str) -> dict[str, str]:  # noqa: N803 - moto's keyword names
    return {"EnteredTime": aws_timestamp(EnteredTime, whole_seconds=ENTERED_TIME_WHOLE_SECONDS), "Name": Name}


def _dispatch(stubber: BotocoreStubber, request: Any) -> Response | None:
    emulator = _active
    if emulator is None:
        return _ORIGINAL_PROCESS_REQUEST(stubber, request)
    invocation = current_invocation()
    if invocation is not None:  # on an environment's thread: served on the invoking thread, refused once killed
        return invocation.forward(stubber, request)
    return emulator.handle(stubber, request)


def _lambda_from_error(task: StateTaskServiceLambda, env: Any, ex: Exception) -> FailureEvent:
    failure: FailureEvent = _ORIGINAL_LAMBDA_FROM_ERROR(task, env, ex)
    if isinstance(ex, lambda_eval_utils.LambdaFunctionErrorException):
        with suppress(ValueError, TypeError, AttributeError):
            if json.loads(ex.payload).get("errorType") in SANDBOX_ERRORS:
                failure.error_name = CustomErrorName("Lambda.Unknown")  # type: ignore[misc]
                event_details: dict[str, Any] = dict(failure.event_details or {})
                details = event_details.get("taskFailedEventDetails")
                if details is not None:
                    details["error"] = "Lambda.Unknown"  # the cause stays the payload: Sandbox.Timedout and how long
    return failure


def _start_execution(
    backend: StepFunctionsParserBackend,
    state_machine_arn: str,
    name: Any = None,
    execution_input: Any = None,
    trace_header: Any = None,
) -> Execution:
    emulator = _active
    state_machine = backend.describe_state_machine(state_machine_arn)
    if emulator is None or state_machine.type != StateMachineType.EXPRESS:
        return _ORIGINAL_START_EXECUTION(backend, state_machine_arn, name, execution_input, trace_header)
    return emulator.start_express(backend, state_machine, name, execution_input, trace_header)


class _ExpressExecutions:
    """Express executions and their deadlines; one watchdog thread times out those that outlive the limit."""

    def __init__(self) -> None:
        self.deadlines: list[tuple[float, int, Execution]] = []
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None
        self._sequence = 0

    def track(self, execution: Execution, limit: float) -> None:
        with self.lock:
            self._sequence += 1
            heapq.heappush(self.deadlines, (time.monotonic() + limit, self._sequence, execution))
            if self.thread is None:
                self.thread = threading.Thread(target=self._watch, name="express-time-limit", daemon=True)
                self.thread.start()

    def _watch(self) -> None:
        while not self.stopped.wait(0.25):
            now = time.monotonic()
            expired: list[Execution] = []
            with self.lock:
                while self.deadlines and self.deadlines[0][0] <= now:
                    expired.append(heapq.heappop(self.deadlines)[2])
            for execution in expired:
                worker = execution.exec_worker
                if worker is not None and worker.env is not None and execution.status == "RUNNING":
                    worker.env.set_timed_out()  # the execution ends TIMED_OUT; a Lambda it invoked runs on

    def stop(self) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join(timeout=5)


class Emulator:
    """Starts moto, serializes it, dispatches Lambda invokes, and counts every AWS call by caller."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.functions: dict[str, Handler] = {}
        self.pools: dict[str, FunctionPool] = {}  # the deploy()ed functions' environments
        self.calls: Counter[tuple[str, str]] = Counter()
        self._authorized: set[tuple[str, str]] = set()  # (caller, IAM action) each call needed
        self._calls_lock = threading.Lock()
        self.faults: list[FaultHook] = []
        # Called with (action, request body) after each DynamoDB write; must return at once (O(1), no lock taken).
        self.table_write_listeners: list[TableWriteListener] = []
        self._caller = threading.local()
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self.express_time_limit = EXPRESS_TIME_LIMIT_SECONDS
        # Share of Express executions run a second time under the same ARN, after a delay drawn from the range.
        self.express_duplicates = 0.0
        self.express_duplicate_delay = (0.0, 1.0)
        self._express = _ExpressExecutions()
        self._random = random.Random()  # noqa: S311 - chaos, not secrets

    def start(self) -> Emulator:
        """Patch moto and start mocking; one emulator per process at a time."""
        global _active
        if _active is not None:
            raise RuntimeError("an emulator is already running in this process")
        self._mock.start()
        self._rollback = item_level_rollback()
        self._rollback.__enter__()
        self._isolation = isolate_powertools()
        self._isolation.__enter__()
        self._threads = threads_join_their_invocation()
        self._threads.__enter__()
        StateTaskServiceLambda._from_error = _lambda_from_error  # type: ignore[method-assign,assignment]
        BotocoreStubber.process_request = _dispatch  # type: ignore[method-assign,assignment]
        Timestamp._get_wait_seconds = _wait_seconds_rounded_up  # type: ignore[method-assign]
        StepFunctionsParserBackend.start_execution = _start_execution  # type: ignore[method-assign,assignment]
        StepFunctionBackend.accepted_exec_arn_format = _EXEC_ARN_FORMAT
        ExecutionWorker._get_evaluation_entrypoint = _shared_entrypoint  # type: ignore[method-assign,assignment]
        state_module.StateData = _state_data  # type: ignore[attr-defined,assignment]
        for module, parse in _JSON_PATH_MODULES.items():
            module.parse = functools.lru_cache(maxsize=1024)(parse)
        clients: dict[tuple[str, str], Any] = {}
        clients_lock = threading.Lock()

        def task_client(region: str, service: str, state_credentials: Any = None) -> Any:
            # moto passes the state's credentials and ignores them: every client it builds is the same.
            with clients_lock:
                if (region, service) not in clients:
                    clients[(region, service)] = _ORIGINAL_BOTO_CLIENT_FOR(region, service)
                return clients[(region, service)]

        for module in _TASK_CLIENT_MODULES:
            module.boto_client_for = task_client  # type: ignore[attr-defined]
        _active = self
        return self

    def stop(self) -> None:
        """Undo the patches and stop mocking."""
        global _active
        _active = None
        self._express.stop()
        for pool in self.pools.values():
            pool.close()
        StateTaskServiceLambda._from_error = _ORIGINAL_LAMBDA_FROM_ERROR  # type: ignore[method-assign]
        self._threads.__exit__(None, None, None)
        self._isolation.__exit__(None, None, None)
        BotocoreStubber.process_request = _ORIGINAL_PROCESS_REQUEST  # type: ignore[method-assign]
        Timestamp._get_wait_seconds = _ORIGINAL_WAIT_SECONDS  # type: ignore[method-assign]
        StepFunctionsParserBackend.start_execution = _ORIGINAL_START_EXECUTION  # type: ignore[method-assign]
        StepFunctionBackend.accepted_exec_arn_format = _ORIGINAL_EXEC_ARN_FORMAT
        ExecutionWorker._get_evaluation_entrypoint = _ORIGINAL_ENTRYPOINT  # type: ignore[method-assign]
        with _programs_lock:
            _programs.clear()  # each runtime renders its own definition (its table's name): keep none past it
        state_module.StateData = StateData  # type: ignore[attr-defined]
        for module, parse in _JSON_PATH_MODULES.items():
            module.parse = parse
        for module in _TASK_CLIENT_MODULES:
            module.boto_client_for = _ORIGINAL_BOTO_CLIENT_FOR  # type: ignore[attr-defined]
        self._rollback.__exit__(None, None, None)
        self._mock.stop()

    def start_express(
        self,
        backend: StepFunctionsParserBackend,
        state_machine: Any,
        name: str | None,
        execution_input: str | None,
        trace_header: str | None,
    ) -> Execution:
        """StartExecution on an Express state machine: always a new execution, under an ARN of its own."""
        if name:
            backend._validate_name(name)
        name = name or str(uuid.uuid4())
        arn = (
            f"arn:{backend.partition}:states:{backend.region_name}:{backend.account_id}:express:"
            f"{state_machine.name}:{name}:{uuid.uuid4()}"
        )
        execution = self._run_express(backend, state_machine, name, arn, execution_input or "{}", trace_header)
        if self.express_duplicates and self._random.random() < self.express_duplicates:
            delay = self._random.uniform(*self.express_duplicate_delay)
            timer = threading.Timer(delay, self._duplicate_quietly, args=(arn,))
            timer.daemon = True
            timer.start()
        return execution

    def duplicate(self, execution_arn: str) -> None:
        """Run an Express execution once more, same ARN and input: the at-least-once delivery AWS allows."""
        with self.lock:
            for backend, state_machine, execution in self._executions():
                if execution.exec_arn == execution_arn:
                    if state_machine.type != StateMachineType.EXPRESS:
                        raise ValueError(f"only Express executions run more than once: {execution_arn}")
                    self._run_express(
                        backend,
                        state_machine,
                        execution.name,
                        execution_arn,
                        execution.execution_input,
                        execution.trace_header,
                    )
                    return
        raise KeyError(execution_arn)

    def _duplicate_quietly(self, execution_arn: str) -> None:
        if _active is self:
            with suppress(KeyError):  # the emulator was reset in between: nothing left to duplicate
                self.duplicate(execution_arn)

    def _run_express(
        self,
        backend: StepFunctionsParserBackend,
        state_machine: Any,
        name: str,
        arn: str,
        execution_input: str,
        trace_header: str | None,
    ) -> Execution:
        try:
            json.loads(execution_input)
        except ValueError as e:
            raise InvalidExecutionInput(str(e)) from e
        # As moto does: a snapshot of the definition, without the live executions (threads and locks) it holds.
        clone = copy.deepcopy(state_machine, {id(state_machine.executions): [], id(state_machine.backend): backend})
        clone.sm_type = StateMachineType.EXPRESS
        execution = Execution(
            name=name,
            sm_type=StateMachineType.EXPRESS,
            role_arn=clone.roleArn,
            exec_arn=arn,
            account_id=backend.account_id,
            region_name=backend.region_name,
            state_machine=clone,
            start_date=datetime.now(UTC),
            cloud_watch_logging_session=None,
            activity_store={},
            input_data=execution_input,
            trace_header=trace_header,
        )
        state_machine.executions.append(execution)
        execution.start()
        self._express.track(execution, self.express_time_limit)
        return execution

    def _executions(self) -> Iterator[tuple[StepFunctionsParserBackend, Any, Any]]:
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        for account in list(stepfunctions_parser_backends):
            for region in list(stepfunctions_parser_backends[account]):
                backend = stepfunctions_parser_backends[account][region]
                for state_machine in list(backend.state_machines):
                    for execution in list(state_machine.executions):
                        yield backend, state_machine, execution

    def executions(self, state_machine_arn: str) -> list[Execution]:
        """Every execution of a state machine, duplicates included (moto's own records: any workflow type)."""
        with self.lock:
            return [e for _, sm, e in self._executions() if sm.arn == state_machine_arn]

    @property
    def caller(self) -> str:
        """Which of our functions is running on this thread ('state_machine' outside any handler)."""
        return getattr(self._caller, "name", "state_machine")

    @contextmanager
    def running_as(self, name: str) -> Iterator[None]:
        """Attribute the AWS calls made inside to function `name`."""
        previous = getattr(self._caller, "name", None)
        self._caller.name = name
        try:
            yield
        finally:
            if previous is None:
                del self._caller.name
            else:
                self._caller.name = previous

    def deploy(
        self,
        name: str,
        load: Callable[[], Any],
        timeout_seconds: float,
        memory_mb: int = 256,
        reserved_concurrency: int | None = None,
    ) -> FunctionPool:
        """Deploy a function: `load()` initialises one environment (returns its module, whose `handler` is called);
        past `reserved_concurrency` invocations at once, it is throttled (FunctionThrottled)."""
        pool = FunctionPool(name, load, self._serve, self.running_as, timeout_seconds, memory_mb, reserved_concurrency)
        self.pools[name] = pool
        self.functions[name] = pool
        return pool

    def _serve(self, stubber: Any, request: Any) -> Response | None:
        return self.handle(stubber, request)  # looked up per request: a test or the bench may wrap handle()

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        """Run one of our functions as Lambda would, attributing its AWS calls to it (InvocationTimedOut: too long;
        FunctionThrottled: past its reserved concurrency; RequestTooLarge: an event over 6 MB)."""
        pool = self.pools.get(name)
        context = LambdaContext(name) if pool is None else LambdaContext(name, pool.timeout_seconds, pool.memory_mb)
        with self.running_as(name):
            return self.functions[name](event, context)

    def lambda_stats(self) -> dict[str, dict[str, Any]]:
        """Per deployed function: environments created and live, init (cold start) durations in ms, invocations,
        timeouts, and AWS requests refused to killed invocations."""
        return {name: pool.stats() for name, pool in self.pools.items()}

    def handle(self, stubber: BotocoreStubber, request: Any) -> Response | None:
        """Route one botocore request: a Lambda invoke to our handler, anything else to moto under the lock."""
        action = _action(request)
        caller = self.caller
        needed = iam_actions(action, request.body)
        with self._calls_lock:
            self.calls[(caller, action)] += 1
            self._authorized.update((caller, iam) for iam in needed)
        for fault in list(self.faults):
            injected = fault(caller, action)
            if injected is not None:
                return injected
        if action == "lambda:InvokeFunction":
            return self._invoke_from_url(request.url, request.body)
        if action in EXPRESS_UNSUPPORTED and caller in self.functions and self._names_express(request.body):
            message = f"{action.split(':', 1)[1]} is not supported by EXPRESS state machines"
            return 400, {}, json.dumps({"__type": "ValidationException", "message": message})
        with self.lock:
            response = _ORIGINAL_PROCESS_REQUEST(stubber, request)
        if action in TABLE_WRITES:
            # Outside the lock: a listener (the local console's live stream) only queues the request's body.
            for listener in self.table_write_listeners:
                listener(action, request.body)
        return response

    def _names_express(self, body: bytes | str | None) -> bool:
        """Whether a Step Functions request names an Express execution or state machine."""
        params = json.loads(body or b"{}")
        arn = str(params.get("executionArn") or params.get("stateMachineArn") or "")
        if ":express:" in arn:
            return True
        with self.lock:
            from moto.stepfunctions.parser.models import stepfunctions_parser_backends

            for account in list(stepfunctions_parser_backends):
                for region in list(stepfunctions_parser_backends[account]):
                    for state_machine in stepfunctions_parser_backends[account][region].state_machines:
                        if state_machine.arn == arn:
                            return bool(state_machine.type == StateMachineType.EXPRESS)
        return False

    def _invoke_from_url(self, url: str, body: bytes | str | None) -> Response:
        function = unquote(url.split("/functions/", 1)[1].split("/", 1)[0]).rsplit(":", 1)[-1]
        if function not in self.functions:
            return 404, {}, json.dumps({"Type": "User", "message": f"Function not found: {function}"})
        event = json.loads(body or b"{}")
        try:
            result = self.invoke(function, event)
        except FunctionThrottled as e:  # Lambda's 429: Step Functions names it Lambda.TooManyRequestsException
            return 429, _lambda_error_headers("TooManyRequestsException"), json.dumps(e.body)
        except RequestTooLarge as e:  # Lambda's 413: Step Functions names it Lambda.RequestTooLargeException
            return 413, _lambda_error_headers("RequestTooLargeException"), json.dumps(e.body)
        except Exception as e:  # a timeout too: Lambda answers 200 with the function error Sandbox.Timedout
            return 200, {"X-Amz-Function-Error": "Unhandled"}, error_payload(e)
        return 200, {"X-Amz-Executed-Version": "$LATEST"}, json.dumps(result)

    def observed_actions(self) -> dict[str, list[str]]:
        """The IAM actions each caller needed, as seen so far."""
        observed: dict[str, set[str]] = {}
        with self._calls_lock:
            seen = list(self._authorized)
        for caller, action in seen:
            observed.setdefault(caller, set()).add(action)
        return {caller: sorted(actions) for caller, actions in sorted(observed.items())}


def _lambda_error_headers(error_type: str) -> dict[str, str]:
    # The request id is part of the cause Step Functions writes ("...; Request ID: <id>; Proxy: null)").
    return {"x-amzn-ErrorType": error_type, "x-amzn-RequestId": str(uuid.uuid4()), "Content-Type": "application/json"}


_S3_OBJECT_OPERATIONS = {"PUT": "PutObject", "GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}
_S3_BUCKET_OPERATIONS = {"PUT": "CreateBucket", "GET": "ListObjectsV2", "HEAD": "HeadBucket", "DELETE": "DeleteBucket"}


def _action(request: Any) -> str:
    """'service:Operation' of a botocore request (JSON protocols name it in X-Amz-Target)."""
    target = request.headers.get("X-Amz-Target")
    if isinstance(target, bytes):
        target = target.decode()
    host = request.url.split("://", 1)[-1].split(".", 1)[0]
    if target:
        prefix, operation = target.rsplit(".", 1)
        service = {"DynamoDB_20120810": "dynamodb", "AWSStepFunctions": "states", "AmazonSQS": "sqs"}.get(prefix, host)
        return f"{service}:{operation}"
    if host == "lambda" and "/invocations" in request.url:
        return "lambda:InvokeFunction"
    authority, _, path = request.url.split("://", 1)[-1].split("?", 1)[0].partition("/")
    if host == "s3" or ".s3." in authority:
        # REST: the method names the operation, on an object when a key follows the bucket (path- or host-style).
        key = path.partition("/")[2] if host == "s3" else path
        operations = _S3_OBJECT_OPERATIONS if key else _S3_BUCKET_OPERATIONS
        return f"s3:{operations.get(request.method, request.method)}"
    return f"{host}:{request.method} {request.url.split('?', 1)[0].split('.com', 1)[-1]}"


# A transaction is authorized per item, by the action each item's operation would need on its own.
_TRANSACT_ITEM_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


def iam_actions(action: str, body: bytes | str | None = None) -> set[str]:
    """The IAM actions an API call needs: a transaction needs those of the operations it holds (its body)."""
    if action != "dynamodb:TransactWriteItems":
        return {action}
    try:
        items = json.loads(body or b"{}")["TransactItems"]
        return {_TRANSACT_ITEM_ACTIONS[kind] for item in items for kind in item if kind in _TRANSACT_ITEM_ACTIONS}
    except (ValueError, KeyError, TypeError):
        return {"dynamodb:UpdateItem", "dynamodb:PutItem"}  # unreadable: what our transactions hold
