"""Lambda's execution model in one process: per function, a pool of execution environments.

An environment is a thread of its own holding its own loaded handler module (initialised once, timed: its cold
start). It serves one invocation at a time; a concurrent invocation takes an idle environment or creates one. The
handler's code runs on the environment's thread, while the invoking thread waits until the function's deadline and
meanwhile serves, on its own thread, the AWS requests the invocation makes (so the emulator's lock, fault hooks and
counters see them on the invoking thread, as before). An invocation still running at its deadline is treated as
killed: the invoker gets `InvocationTimedOut`, the environment is discarded, and every AWS request the abandoned
handler makes afterwards is refused with `InvocationKilled`. The timeout counts the handler's own time: the time the
emulator takes to serve its AWS requests is not counted (moto, serialized under one lock, takes seconds under load
where AWS takes milliseconds: the emulator's cost must not time our functions out).

Powertools keeps per-request state in process-wide places; while an emulator runs, `isolate_powertools()` makes
each of them per thread, and so per environment: the event handler's `BaseRouter.current_event`/`lambda_context`
(class attributes), the Logger formatter's keys (one formatter per service name), and the Logger's and Tracer's
cold-start flags (module globals, so each environment's first invocation is its cold start).
"""

from __future__ import annotations

import json
import queue
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.event_handler import api_gateway
from aws_lambda_powertools.logging import formatter as log_formatter
from aws_lambda_powertools.logging import logger as log_module
from aws_lambda_powertools.tracing import tracer as trace_module

Response = tuple[int, dict[str, str], str | bytes]
# Serves one AWS request of an invocation on the invoking thread (the emulator's handle()).
Serve = Callable[[Any, Any], "Response | None"]

_thread = threading.local()  # on an environment's thread: .environment, and .invocation while one runs


class InvocationKilled(Exception):  # noqa: N818 - what happened to the invocation, as Lambda would have done it
    """An AWS request from an invocation past its deadline: Lambda would have killed it, so the request never runs."""


class InvocationTimedOut(Exception):  # noqa: N818 - named as Lambda reports it (Sandbox.Timedout)
    """The invocation ran past its function's timeout."""

    def __init__(self, function: str, request_id: str, timeout_seconds: float) -> None:
        self.function = function
        self.request_id = request_id
        self.timeout_seconds = timeout_seconds
        super().__init__(f"RequestId: {request_id} Error: Task timed out after {timeout_seconds:.2f} seconds")

    @property
    def payload(self) -> dict[str, str]:
        """The function error payload Lambda returns for a timed-out invocation."""
        return {"errorType": "Sandbox.Timedout", "errorMessage": str(self)}


# Lambda's synchronous invocation limits (Lambda quotas: "Invocation payload (request and response): 6 MB each for
# synchronous"), checked on the serialized JSON as Lambda checks the request body and the function's response.
MAX_SYNC_REQUEST_BYTES = 6 * 1024 * 1024
MAX_SYNC_RESPONSE_BYTES = 6 * 1024 * 1024 + 100  # Lambda's message names 6291556 bytes


class FunctionThrottled(Exception):  # noqa: N818 - named for what Lambda answers (429 TooManyRequestsException)
    """An invocation past the function's reserved concurrency: Lambda refuses it before any environment runs it."""

    def __init__(self, function: str, reserved_concurrency: int) -> None:
        self.function = function
        self.reserved_concurrency = reserved_concurrency
        super().__init__("Rate Exceeded.")

    @property
    def body(self) -> dict[str, str]:
        """Lambda's TooManyRequestsException body."""
        return {"Reason": "ReservedFunctionConcurrentInvocationLimitExceeded", "Type": "User", "message": str(self)}


class RequestTooLarge(Exception):  # noqa: N818 - named for what Lambda answers (413 RequestTooLargeException)
    """An invocation whose event is over Lambda's synchronous request limit: refused before any environment runs it."""

    def __init__(self, size: int) -> None:
        self.size = size
        limit = MAX_SYNC_REQUEST_BYTES
        super().__init__(f"Request must be smaller than {limit} bytes for the InvokeFunction operation")

    @property
    def body(self) -> dict[str, str]:
        """Lambda's RequestTooLargeException body."""
        return {"Type": "User", "message": str(self)}


class ResponseTooLarge(Exception):  # noqa: N818 - named as Lambda reports it (Function.ResponseSizeTooLarge)
    """The function returned more than Lambda's synchronous response limit: the invoker gets a function error."""

    def __init__(self, size: int) -> None:
        self.size = size
        super().__init__(
            f"Response payload size exceeded maximum allowed payload size ({MAX_SYNC_RESPONSE_BYTES} bytes)."
        )

    @property
    def payload(self) -> dict[str, str]:
        """The function error payload Lambda returns for a response over the limit."""
        return {"errorType": "Function.ResponseSizeTooLarge", "errorMessage": str(self)}


class LambdaContext:
    """The attributes Powertools reads from a Lambda context; the remaining time counts down to the deadline."""

    def __init__(self, function_name: str, timeout_seconds: float = 60.0, memory_limit_in_mb: int = 256) -> None:
        self.function_name = function_name
        self.memory_limit_in_mb = memory_limit_in_mb
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.aws_request_id = f"local-{time.monotonic_ns()}"
        # Reset when an environment takes the invocation: the timeout runs from there, as Lambda's does.
        self.deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        """Lambda API: milliseconds left before the function times out."""
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def current_invocation() -> _Invocation | None:
    """The invocation running on this thread, if this is an environment's thread."""
    invocation: _Invocation | None = getattr(_thread, "invocation", None)
    return invocation


def current_environment() -> ExecutionEnvironment | None:
    """The environment whose thread this is, if any."""
    environment: ExecutionEnvironment | None = getattr(_thread, "environment", None)
    return environment


@dataclass
class _AwsCall:
    stubber: Any
    request: Any
    done: threading.Event = field(default_factory=threading.Event)
    response: Response | None = None
    error: BaseException | None = None


@dataclass
class _Outcome:
    result: Any = None
    error: BaseException | None = None


class _Invocation:
    """One invocation: its event and context, and the channel between the environment and the invoking thread."""

    def __init__(self, event: dict[str, Any], context: Any, pool: FunctionPool) -> None:
        self.event = event
        self.context = context
        self.pool = pool
        self.deadline = time.monotonic() + pool.timeout_seconds
        if isinstance(context, LambdaContext):
            context.deadline = self.deadline
        self.channel: queue.SimpleQueue[_AwsCall | _Outcome] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.dead = False
        self.finished = False

    def extend(self, seconds: float) -> None:
        """Stop the function's clock for the time the emulator took to serve one of its AWS requests."""
        self.deadline += seconds
        if isinstance(self.context, LambdaContext):
            self.context.deadline = self.deadline

    def forward(self, stubber: Any, request: Any) -> Response | None:
        """From the environment's thread (or a thread its handler started): have the invoking thread serve this AWS
        request; refuse it once the invocation was killed, or has returned (Lambda freezes the environment then: a
        thread the handler left running makes no call until a later invocation thaws it)."""
        call = _AwsCall(stubber, request)
        with self.lock:
            if self.dead or self.finished:
                self.pool.count("refused_calls")
                why = "timed out: Lambda would have killed" if self.dead else "returned: Lambda would have frozen"
                raise InvocationKilled(f"{self.pool.name} {why} this invocation")
            self.channel.put(call)
        call.done.wait()
        if call.error is not None:
            raise call.error
        return call.response

    def finish(self, outcome: _Outcome) -> None:
        """From the environment's thread: hand the result over, unless the invoker already gave up on it."""
        with self.lock:
            if self.dead:
                return
            self.finished = True
            self.channel.put(outcome)

    def refuse_pending(self) -> None:
        """From the invoking thread once the outcome is in: refuse the AWS requests still queued behind it."""
        while True:
            try:
                pending = self.channel.get_nowait()
            except queue.Empty:
                return
            if isinstance(pending, _AwsCall):
                self.pool.count("refused_calls")
                pending.error = InvocationKilled(f"{self.pool.name} returned: Lambda would have frozen this invocation")
                pending.done.set()

    def kill(self) -> bool:
        """From the invoking thread at the deadline: refuse whatever the handler asks from now on."""
        with self.lock:
            if self.finished:
                return False  # it finished just in time: its outcome is in the channel
            self.dead = True
        while True:
            try:
                pending = self.channel.get_nowait()
            except queue.Empty:
                return True
            if isinstance(pending, _AwsCall):
                self.pool.count("refused_calls")
                pending.error = InvocationKilled(f"{self.pool.name} timed out: Lambda would have killed it")
                pending.done.set()


class ExecutionEnvironment:
    """One environment: a thread with its own handler module, serving one invocation at a time."""

    def __init__(self, pool: FunctionPool, number: int) -> None:
        self.pool = pool
        self.number = number
        self.module: Any = None
        self.init_seconds = 0.0
        self.invocations = 0
        self.discarded = False
        self.cold = {"logger": True, "tracer": True}  # each Powertools utility reports its own first invocation
        self._inbox: queue.SimpleQueue[_Invocation | None] = queue.SimpleQueue()
        self._ready = threading.Event()
        self._init_error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, name=f"lambda-{pool.name}-{number}", daemon=True)

    def start(self) -> None:
        """Initialise the environment (its cold start) on its own thread; raise what the init raised."""
        self.thread.start()
        self._ready.wait()
        if self._init_error is not None:
            raise self._init_error

    def _main(self) -> None:
        _thread.environment = self
        with self.pool.running_as(self.pool.name):
            started = time.perf_counter()
            try:
                self.module = self.pool.load()
            except BaseException as e:  # an init error is the invoker's to see
                self._init_error = e
                self._ready.set()
                return
            self.init_seconds = time.perf_counter() - started
            self._ready.set()
            while (invocation := self._inbox.get()) is not None:
                _thread.invocation = invocation
                try:
                    outcome = _Outcome(result=self.module.handler(invocation.event, invocation.context))
                except BaseException as e:  # the handler's error is the invocation's outcome
                    outcome = _Outcome(error=e)
                finally:
                    del _thread.invocation
                invocation.finish(outcome)
                if self.discarded:
                    return  # a killed invocation's thread ran on until its handler returned; it serves no more

    def invoke(self, event: dict[str, Any], context: Any) -> Any:
        """From the invoking thread: run one invocation here, serving its AWS requests, until it ends or times out."""
        invocation = _Invocation(event, context, self.pool)
        self.invocations += 1
        self._inbox.put(invocation)
        while True:
            try:
                message = invocation.channel.get(timeout=max(0.0, invocation.deadline - time.monotonic()))
            except queue.Empty:
                if not invocation.kill():
                    continue
                self.discarded = True
                self.pool.count("timeouts")
                request_id = str(getattr(context, "aws_request_id", "unknown"))
                raise InvocationTimedOut(self.pool.name, request_id, self.pool.timeout_seconds) from None
            if isinstance(message, _AwsCall):
                served = time.monotonic()
                try:
                    message.response = self.pool.serve(message.stubber, message.request)
                except BaseException as e:  # raised to the handler, on its thread
                    message.error = e
                invocation.extend(time.monotonic() - served)
                message.done.set()
                continue
            invocation.refuse_pending()  # calls a thread of the handler's made as it returned
            if message.error is not None:
                raise message.error
            return message.result

    def stop(self) -> None:
        """Let an idle environment's thread end."""
        self.discarded = True
        self._inbox.put(None)


class FunctionPool:
    """A function's environments: idle ones are reused (the most recent first), new ones created on demand."""

    def __init__(
        self,
        name: str,
        load: Callable[[], Any],
        serve: Serve,
        running_as: Callable[[str], Any],
        timeout_seconds: float,
        memory_mb: int = 256,
        reserved_concurrency: int | None = None,
    ) -> None:
        self.name = name
        self.load = load
        self.serve = serve
        self.running_as = running_as
        self.timeout_seconds = timeout_seconds
        self.memory_mb = memory_mb
        # At most this many invocations at once (Terraform's lambda_reserved_concurrency); None: unreserved.
        self.reserved_concurrency = reserved_concurrency
        self.code = FunctionCode(self)
        self._lock = threading.Lock()
        self._idle: list[ExecutionEnvironment] = []
        self._live: list[ExecutionEnvironment] = []
        self._created = 0
        self._busy = 0
        self._closed = False
        self.init_seconds: list[float] = []
        self.counters: dict[str, int] = {
            "invocations": 0,
            "timeouts": 0,
            "refused_calls": 0,
            "throttles": 0,
            "oversize_requests": 0,
            "oversize_responses": 0,
        }

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        """Invoke the function: in an idle environment, or a new one; throttled past its reserved concurrency."""
        request_size = _json_size(event)
        if request_size > MAX_SYNC_REQUEST_BYTES:
            self.count("oversize_requests")
            raise RequestTooLarge(request_size)
        environment = self._acquire()
        try:
            result = environment.invoke(event, context)
        finally:
            self._release(environment)
        response_size = _json_size(result)
        if response_size > MAX_SYNC_RESPONSE_BYTES:
            self.count("oversize_responses")
            raise ResponseTooLarge(response_size)
        return result

    def count(self, counter: str) -> None:
        """Add one to a counter."""
        with self._lock:
            self.counters[counter] += 1

    def warm(self) -> ExecutionEnvironment:
        """Create one idle environment now (the runtime does so at start, so a broken handler fails the start)."""
        environment = self._create()
        with self._lock:
            self._idle.append(environment)
        return environment

    def _acquire(self) -> ExecutionEnvironment:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"function {self.name} is no longer deployed")
            if self.reserved_concurrency is not None and self._busy >= self.reserved_concurrency:
                self.counters["throttles"] += 1
                raise FunctionThrottled(self.name, self.reserved_concurrency)
            self.counters["invocations"] += 1
            self._busy += 1
            if self._idle:
                return self._idle.pop()
        try:
            return self._create()
        except BaseException:
            with self._lock:
                self._busy -= 1
            raise

    def _create(self) -> ExecutionEnvironment:
        with self._lock:
            self._created += 1
            environment = ExecutionEnvironment(self, self._created)
        environment.start()
        with self.code.lock:  # no path may be read between the replay and the environment going live
            self.code.apply_edits(environment)
            with self._lock:
                self.init_seconds.append(environment.init_seconds)
                self._live.append(environment)
        return environment

    def _release(self, environment: ExecutionEnvironment) -> None:
        with self._lock:
            self._busy -= 1
            if environment.discarded or self._closed:
                self._live.remove(environment)
                environment.stop()
            else:
                self._idle.append(environment)

    def environments(self) -> list[ExecutionEnvironment]:
        """The live environments, idle and busy."""
        with self._lock:
            return list(self._live)

    def stats(self) -> dict[str, Any]:
        """Environments created and live, each cold start's init duration (ms), invocations, timeouts, refusals."""
        with self._lock:
            return {
                "environments_created": self._created,
                "environments_live": len(self._live),
                "init_ms": [round(s * 1000, 3) for s in self.init_seconds],
                **self.counters,
            }

    def close(self) -> None:
        """Stop the idle environments; busy ones stop when their invocation ends."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for environment in idle:
            environment.stop()


def _json_size(value: Any) -> int:
    """Bytes of `value` as Lambda would carry it: compact JSON (a test handler's odd object: as its text)."""
    # UTF-8 as Lambda measures it, not ASCII escapes: an emoji is 4 bytes on the wire, where \ud83d\ude00 is 12.
    return len(json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=False).encode())


class FunctionCode:
    """`runtime.handlers[name]`: the function's handler module in every environment, for tests that patch it.

    What a test does to it (set an attribute or an item, anywhere down a path of attributes and items) is done in
    every live environment and replayed, in order, in each environment created later, as a new deployment of the
    patched code would be. A path read before a patch keeps what it named then (a wrapper can call the original).
    Read or called on an environment's thread, it is that environment's object; elsewhere, the first environment's.
    """

    def __init__(self, pool: FunctionPool) -> None:
        self._pool = pool
        self._edits: list[tuple[str, _Path, Any, Any]] = []  # ("read" | "attr" | "item", path, key, value)
        self.lock = threading.RLock()

    def apply_edits(self, environment: ExecutionEnvironment) -> None:
        """Replay every edit made so far on a new environment."""
        with self.lock:
            for kind, path, key, value in self._edits:
                if kind == "read":
                    path.capture(environment)
                elif kind == "attr":
                    setattr(path.value(environment), key, _unwrap(value, environment))
                else:
                    path.value(environment)[key] = _unwrap(value, environment)

    def root(self) -> _Path:
        """The path naming the module itself."""
        return _Path(self, None, "", None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.root(), name)


class _Path:
    """A path into the handler module of every environment (see FunctionCode)."""

    def __init__(self, code: FunctionCode, parent: _Path | None, kind: str, key: Any) -> None:
        object.__setattr__(self, "_code", code)
        object.__setattr__(self, "_parent", parent)
        object.__setattr__(self, "_kind", kind)
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_values", {})
        with code.lock:
            for environment in code._pool.environments():
                self.capture(environment)
            code._edits.append(("read", self, None, None))

    def capture(self, environment: ExecutionEnvironment) -> None:
        """Remember what this path names in an environment now."""
        parent: _Path | None = self._parent
        if parent is None:
            value = environment.module
        elif self._kind == "attr":
            value = getattr(parent.value(environment), self._key)
        else:
            value = parent.value(environment)[self._key]
        self._values[environment] = value

    def value(self, environment: ExecutionEnvironment) -> Any:
        """What this path named in an environment when it was read."""
        return self._values[environment]

    def _here(self) -> Any:
        environment = current_environment()
        if environment is None or environment not in self._values:
            environment = min(self._values, key=lambda e: e.number, default=None)
            if environment is None:
                raise LookupError(f"{self._code._pool.name} has no environment")
        return self._values[environment]

    def __getattr__(self, name: str) -> Any:
        if current_environment() is not None:
            return getattr(self._here(), name)  # inside an invocation: the environment's own object
        return _Path(self._code, self, "attr", name)

    def __getitem__(self, key: Any) -> Any:
        if current_environment() is not None:
            return self._here()[key]
        return _Path(self._code, self, "item", key)

    def __setattr__(self, name: str, value: Any) -> None:
        self._edit("attr", name, value)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._edit("item", key, value)

    def _edit(self, kind: str, key: Any, value: Any) -> None:
        code = self._code
        with code.lock:
            for environment in list(self._values):
                target = self._values[environment]
                if kind == "attr":
                    setattr(target, key, _unwrap(value, environment))
                else:
                    target[key] = _unwrap(value, environment)
            code._edits.append((kind, self, key, value))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._here()(*args, **kwargs)


def _unwrap(value: Any, environment: ExecutionEnvironment) -> Any:
    return value.value(environment) if isinstance(value, _Path) else value


# --- Powertools' process-wide per-request state, made per thread (so per environment) while an emulator runs -------

_PER_REQUEST_ROUTER_ATTRIBUTES = ("current_event", "lambda_context")
_ORIGINAL_BASE_ROUTER = api_gateway.BaseRouter
_ORIGINAL_LOGGER_COLD_START = log_module._is_cold_start
_ORIGINAL_TRACER_COLD_START = trace_module._is_cold_start
_ORIGINAL_FORMATTER_INIT = log_formatter.LambdaPowertoolsFormatter.__init__
_router_state = threading.local()


class _PerThreadRouterAttribute:
    """BaseRouter.current_event / lambda_context, read through an instance or the class: this thread's value."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        try:
            return getattr(_router_state, self.name)
        except AttributeError:
            raise AttributeError(self.name) from None

    def __set__(self, instance: Any, value: Any) -> None:
        setattr(_router_state, self.name, value)


class _BaseRouterStandIn:
    """Takes BaseRouter's name in api_gateway: resolve() assigns the request to the class, here to this thread."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_ORIGINAL_BASE_ROUTER, name)  # the per-request ones through _PerThreadRouterAttribute

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _PER_REQUEST_ROUTER_ATTRIBUTES:
            setattr(_router_state, name, value)
        else:
            setattr(_ORIGINAL_BASE_ROUTER, name, value)


class _PerThreadLogKeys:
    """The formatter's log_format (the keys every record carries): set at construction, then one copy per thread."""

    _state = threading.local()

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        mine = self._mine()
        if instance not in mine:
            mine[instance] = dict(instance.__dict__["log_format"])
        return mine[instance]

    def __set__(self, instance: Any, value: Any) -> None:
        if getattr(self._state, "constructing", False) or "log_format" not in instance.__dict__:
            instance.__dict__["log_format"] = value
        else:
            self._mine()[instance] = value

    def _mine(self) -> weakref.WeakKeyDictionary[Any, dict[str, Any]]:
        if not hasattr(self._state, "keys"):
            self._state.keys = weakref.WeakKeyDictionary()
        keys: weakref.WeakKeyDictionary[Any, dict[str, Any]] = self._state.keys
        return keys


def _formatter_init(self: Any, *args: Any, **kwargs: Any) -> None:
    # Construction writes the formatter's defaults, shared by every environment; later writes are per thread.
    _PerThreadLogKeys._state.constructing = True
    try:
        _ORIGINAL_FORMATTER_INIT(self, *args, **kwargs)
    finally:
        _PerThreadLogKeys._state.constructing = False


def _cold_start(utility: str, original: Callable[[], bool]) -> Callable[[], bool]:
    def is_cold_start() -> bool:
        environment = current_environment()
        if environment is None:
            return original()
        cold = environment.cold[utility]
        environment.cold[utility] = False
        return cold

    return is_cold_start


_ORIGINAL_THREAD_START = threading.Thread.start


def _start_within_invocation(thread: threading.Thread) -> None:
    # A thread a handler starts (parallel downloads, an AI call bounded by the deadline) belongs to its invocation, as
    # on Lambda: its AWS calls are the function's (its role, its counters), and are refused once the invocation ends.
    invocation = current_invocation()
    if invocation is not None:
        run = thread.run

        def run_within() -> None:
            _thread.invocation = invocation
            run()

        thread.run = run_within  # type: ignore[method-assign]
    _ORIGINAL_THREAD_START(thread)


@contextmanager
def threads_join_their_invocation() -> Iterator[None]:
    """While inside: a thread started during an invocation makes its AWS calls as that invocation."""
    threading.Thread.start = _start_within_invocation  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        threading.Thread.start = _ORIGINAL_THREAD_START  # type: ignore[method-assign]


@contextmanager
def isolate_powertools() -> Iterator[None]:
    """While inside: Powertools' per-request state is per thread, so concurrent invocations share none of it."""
    before = vars(_ORIGINAL_BASE_ROUTER)
    saved = {name: before[name] for name in _PER_REQUEST_ROUTER_ATTRIBUTES if name in before}
    for name in _PER_REQUEST_ROUTER_ATTRIBUTES:
        setattr(_ORIGINAL_BASE_ROUTER, name, _PerThreadRouterAttribute(name))
    api_gateway.BaseRouter = _BaseRouterStandIn()  # type: ignore[misc,assignment]
    formatter_class = log_formatter.LambdaPowertoolsFormatter
    formatter_class.log_format = _PerThreadLogKeys()  # type: ignore[assignment]
    formatter_class.__init__ = _formatter_init  # type: ignore[method-assign]
    log_module._is_cold_start = _cold_start("logger", _ORIGINAL_LOGGER_COLD_START)
    trace_module._is_cold_start = _cold_start("tracer", _ORIGINAL_TRACER_COLD_START)
    try:
        yield
    finally:
        trace_module._is_cold_start = _ORIGINAL_TRACER_COLD_START
        log_module._is_cold_start = _ORIGINAL_LOGGER_COLD_START
        formatter_class.__init__ = _ORIGINAL_FORMATTER_INIT  # type: ignore[method-assign]
        delattr(formatter_class, "log_format")
        api_gateway.BaseRouter = _ORIGINAL_BASE_ROUTER  # type: ignore[misc]
        for name in _PER_REQUEST_ROUTER_ATTRIBUTES:
            if name in saved:
                setattr(_ORIGINAL_BASE_ROUTER, name, saved[name])
            else:
                delattr(_ORIGINAL_BASE_ROUTER, name)


def error_payload(error: BaseException) -> str:
    """The function error payload of an invocation that ended with `error` (Lambda's shape)."""
    if isinstance(error, InvocationTimedOut | ResponseTooLarge):
        return json.dumps(error.payload)
    return json.dumps(
        {
            "errorType": type(error).__name__,
            "errorMessage": str(error),
            "stackTrace": traceback.format_tb(error.__traceback__)[-3:],
        }
    )
