"""Command line: `debouncer serve` runs the whole pipeline locally; `debouncer replay` plays scenario fixtures."""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import pkgutil
import sys

from pydantic import ValidationError

from debouncer.config import Settings
from debouncer.domain.errors import ConfigurationError


def serve(host: str, port: int) -> int:
    """Serve in the foreground until interrupted."""
    # Before the handlers' modules are imported, as Lambda sets it: Powertools' loggers take their service name and
    # level at import (so no command may import a use case before this: tests/unit/test_cli_imports.py). The console
    # says in its own lines what the functions' INFO JSON would; LOG_LEVEL=DEBUG shows everything.
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "chat-debouncer")
    debug = os.environ.get("LOG_LEVEL", "").upper() == "DEBUG"
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "DEBUG" if debug else "WARNING")
    from debouncer.local import logs
    from debouncer.local.runtime import LocalRuntime
    from debouncer.local.server import LocalServer

    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"error: refusing to listen on {host}: the local runtime only serves loopback", file=sys.stderr)
        return 2
    try:
        settings = Settings()
    except ValidationError as error:  # a clear refusal, not a traceback
        print(f"error: invalid settings: {error}", file=sys.stderr)
        return 2
    logs.configure(os.environ.get("LOG_LEVEL", "INFO"))
    try:
        runtime = LocalRuntime().start()
    except ConfigurationError as error:  # names the setting: a tenants file's key, an AI provider's model
        hint = " (set it, or AI_PROVIDER=echo to run without a model)" if str(error).startswith("AI_PROVIDER=") else ""
        print(f"error: {error}{hint}", file=sys.stderr)
        return 2
    try:
        server = LocalServer(runtime, host, port)
    except OSError as error:
        runtime.stop()
        if error.errno != errno.EADDRINUSE:
            raise
        print(f"error: port {port} is in use; set PORT=… (or stop the other server)", file=sys.stderr)
        return 2
    logs.observe(runtime)
    # The runtime's workflow type, not the settings' default (EXPRESS on AWS): locally it defaults to STANDARD.
    print(
        f"chat-debouncer ready on http://{host}:{port} "
        f"({runtime.workflow_type}, debounce {settings.debounce_seconds}s, max wait {settings.max_wait_seconds}s, "
        f"max messages {settings.max_messages}, AI {settings.ai_provider}"
        + (f", {len(runtime.tenants)} tenants" if runtime.tenants else "")
        + "); Ctrl-C to stop",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        runtime.stop()
    return 0


def replay(args: argparse.Namespace) -> int:
    """Play scenario fixtures against a server and check the replies (docs/replay.md)."""
    from debouncer.replay.run import replay as run_replay

    return run_replay(
        args.files,
        endpoint=args.endpoint,
        speed=args.speed,
        table=args.table,
        region=args.region,
        telegram_bot_id=args.telegram_bot_id,
        margin=args.margin,
        max_rate=args.max_rate,
        out=sys.stdout,
        err=sys.stderr,
    )


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number: {text!r}")
    return value


def _endpoint(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"not an http(s) URL: {text!r}")
    return text.rstrip("/")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `debouncer` console script."""
    parser = argparse.ArgumentParser(prog="debouncer", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="serve the webhook routes locally on an embedded AWS emulator")
    serve_parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve_parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    replay_parser = commands.add_parser(
        "replay",
        help="play scenario fixtures (fixtures/*.json) against a server and check the replies",
        description="Play timed scenarios of signed channel payloads and check every expected burst (docs/replay.md). "
        "Exit status: 0 all passed, 1 a check failed, 2 refused (bad fixture, unreachable server, settings mismatch), "
        "3 none failed but a slow server left some unjudged (LATE lines: replay those files again).",
    )
    replay_parser.add_argument("files", nargs="+", metavar="FILE", help="scenario files, e.g. fixtures/*.json")
    replay_parser.add_argument(
        "--endpoint",
        type=_endpoint,
        default=os.environ.get(
            "DEBOUNCER_ENDPOINT", f"http://{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
        ),
        help="base URL of the webhook routes (default: $DEBOUNCER_ENDPOINT, else http://$HOST:$PORT of make run)",
    )
    replay_parser.add_argument(
        "--speed",
        type=_positive,
        default=1.0,
        help="divide every offset by this; faster than 1 shrinks the gaps the debounce sees (docs/replay.md)",
    )
    replay_parser.add_argument(
        "--table", help="read replies from this DynamoDB table (a deployed stack) instead of GET /local/outbox"
    )
    replay_parser.add_argument("--region", default=None, help="AWS region of --table (default: the AWS SDK's)")
    replay_parser.add_argument(
        "--telegram-bot-id",
        default=os.environ.get("TELEGRAM_BOT_ID", "bot"),
        help="account part of Telegram conversation keys in --table (default: $TELEGRAM_BOT_ID, else 'bot')",
    )
    replay_parser.add_argument(
        "--margin",
        type=_positive,
        default=5.0,
        help="seconds to wait for missing replies beyond max_wait_seconds + 1 after the last event (default 5)",
    )
    replay_parser.add_argument(
        "--max-rate",
        type=_positive,
        default=6.0,
        help="webhooks per second all files together may post; files start staggered to stay within it (default 6, "
        "what the local emulator takes on a small machine; raise it for a deployed stack)",
    )
    _register_ops(commands)
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING"))
    if args.command == "serve":
        return serve(args.host, args.port)
    if args.command == "replay":
        return replay(args)
    try:
        status: int = args.run(args)
    except BrokenPipeError:
        # The reader went away (`debouncer tune --json | head`): what it wanted is read. Silence the final flush too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return status


def _register_ops(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The operator commands, one module each in debouncer.ops (see its docstring)."""
    import debouncer.ops

    for module in sorted(info.name for info in pkgutil.iter_modules(debouncer.ops.__path__)):
        importlib.import_module(f"debouncer.ops.{module}").register(commands)


if __name__ == "__main__":
    raise SystemExit(main())
