"""Command line: `debouncer serve` runs the whole pipeline locally."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from debouncer.config import Settings


def serve(host: str, port: int) -> int:
    """Serve in the foreground until interrupted."""
    from debouncer.local.runtime import LocalRuntime
    from debouncer.local.server import LocalServer

    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"refusing to listen on {host}: the local runtime only serves loopback", file=sys.stderr)
        return 2
    runtime = LocalRuntime().start()
    settings = Settings()
    server = LocalServer(runtime, host, port)
    print(
        f"chat-debouncer serving on http://{host}:{port} "
        f"(debounce {settings.debounce_seconds}s, max wait {settings.max_wait_seconds}s, "
        f"max messages {settings.max_messages}, AI {settings.ai_provider}); Ctrl-C to stop",
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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `debouncer` console script."""
    parser = argparse.ArgumentParser(prog="debouncer", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="serve the webhook routes locally on an embedded AWS emulator")
    serve_parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve_parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING"))
    if args.command == "serve":
        return serve(args.host, args.port)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
