"""The local console's routes (README, the local routes table): the page and its assets, the live stream of each
conversation's decision log, composing a signed message, and replaying fixtures. Local only: never behind API Gateway.

Each is a LocalRoute of debouncer.local.server: function(runtime, request) -> (status, headers, body); the stream's
body is an iterator of Server-Sent Events frames, which the server writes as they come.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from debouncer.local.compose import ComposeError, compose, parse_request
from debouncer.local.console_live import console_for

if TYPE_CHECKING:
    from debouncer.local.runtime import LocalRuntime
    from debouncer.local.server import LocalRequest

log = logging.getLogger("debouncer.local")

ASSET_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
# A plain file name: no directory part, no dot first (so neither ".." nor a hidden file), no escapes.
ASSET_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$")
CONSOLE_PREFIX = "/console/"
Response = tuple[int, dict[str, str], "bytes | Iterator[bytes]"]


def _json(status: int, document: object) -> Response:
    return status, {"Content-Type": "application/json"}, json.dumps(document).encode()


def _asset(name: str) -> Response:
    suffix = Path(name).suffix.lower()
    if not ASSET_NAME.match(name) or suffix not in ASSET_TYPES:
        return _json(404, {"error": f"no console asset {name!r}"})
    resource = resources.files("debouncer.local").joinpath("console", name)
    if not resource.is_file():
        return _json(404, {"error": f"no console asset {name!r}"})
    # no-cache: the page is edited while `make run` serves it.
    return 200, {"Content-Type": ASSET_TYPES[suffix], "Cache-Control": "no-cache"}, resource.read_bytes()


def console_page(runtime: LocalRuntime, request: LocalRequest) -> Response:
    """GET /: the console (console/index.html)."""
    return _asset("index.html")


def console_asset(runtime: LocalRuntime, request: LocalRequest) -> Response:
    """GET /console/<name>: a file of the console's directory, by its plain name."""
    return _asset(request.path.removeprefix(CONSOLE_PREFIX))


def stream(runtime: LocalRuntime, request: LocalRequest) -> Response:
    """GET /local/stream: Server-Sent Events; a snapshot of every conversation, then each one as it changes."""
    from debouncer.local.server import local_settings

    console = console_for(runtime)

    def snapshot() -> dict[str, Any]:
        return {
            "now": time.time(),
            "settings": local_settings(runtime.tenants),
            "conversations": console.reader.all_conversations(),
        }

    headers = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
    return 200, headers, console.hub.stream(snapshot)


def compose_message(runtime: LocalRuntime, request: LocalRequest) -> Response:
    """POST /local/compose {"channel", "user", "text", "tenant"?}: post one signed message through the webhook."""
    from debouncer.config import Settings

    try:
        channel, user, text, tenant = parse_request(request.body, runtime.tenants)
    except ComposeError as error:
        return _json(400, {"error": str(error)})
    composed = compose(channel, user, text, tenant, Settings())
    status, _, answer = runtime.http("POST", composed.path, body=composed.body, headers=composed.headers)
    try:
        response: Any = json.loads(answer)
    except ValueError:
        response = answer.decode(errors="replace")
    return _json(200, {"status": status, "response": response})


def fixtures_dir() -> Path:
    """Where the fixtures are: FIXTURES_DIR, else fixtures/ of the working directory (make run's: the repository)."""
    return Path(os.environ.get("FIXTURES_DIR") or "fixtures")


def _fixture_files() -> dict[str, Path]:
    directory = fixtures_dir()
    return {p.name: p for p in sorted(directory.glob("*.json"))} if directory.is_dir() else {}


def list_fixtures(runtime: LocalRuntime, request: LocalRequest) -> Response:
    """GET /local/fixtures: [{name, description, events, bursts}] of fixtures/*.json (unreadable ones too)."""
    listed = []
    for name, path in _fixture_files().items():
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError):
            document = None
        if not isinstance(document, dict):
            document = {}
        description = document.get("description") or document.get("title")
        events, expect = document.get("events"), document.get("expect")
        listed.append(
            {
                "name": name,
                "description": description if isinstance(description, str) else None,
                "events": len(events) if isinstance(events, list) else 0,
                "bursts": len(expect) if isinstance(expect, list) else 0,
            }
        )
    return _json(200, listed)


def start_replay(runtime: LocalRuntime, request: LocalRequest) -> Response:
    """POST /local/replay {"files": [name, ...], "speed"?}: 202 {"replay": id}; progress on the stream."""
    try:
        document = json.loads(request.body or b"{}")
    except ValueError:
        document = None
    if not isinstance(document, dict):
        return _json(400, {"error": 'the body must be a JSON object {"files": [name, ...], "speed": N}'})
    files, speed = document.get("files"), document.get("speed", 1)
    available = _fixture_files()
    if not isinstance(files, list) or not files or not all(isinstance(f, str) for f in files):
        return _json(400, {"error": "files must be a non-empty list of fixture names (GET /local/fixtures)"})
    if unknown := [f for f in files if f not in available]:
        return _json(400, {"error": f"no such fixture: {', '.join(unknown)}"})
    if isinstance(speed, bool) or not isinstance(speed, int | float) or not math.isfinite(speed) or speed <= 0:
        return _json(400, {"error": "speed must be a positive number"})
    replay_id = uuid.uuid4().hex[:12]
    paths = [str(available[f]) for f in dict.fromkeys(files)]
    thread = threading.Thread(
        target=_replay,
        args=(runtime, request.base_url, replay_id, paths, float(speed)),
        name=f"console-replay-{replay_id}",
        daemon=True,
    )
    thread.start()
    return _json(202, {"replay": replay_id})


def _replay(runtime: LocalRuntime, endpoint: str, replay_id: str, paths: list[str], speed: float) -> None:
    """`debouncer replay`'s checks and player, reporting each expectation on the stream as its fixture finishes."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from debouncer.config import Settings
    from debouncer.local.server import local_settings
    from debouncer.replay.fixture import ReplayError
    from debouncer.replay.player import play
    from debouncer.replay.rewrite import channel_secrets
    from debouncer.replay.run import aligned_start, check_settings, load_all, reply_source, stagger

    hub = console_for(runtime).hub

    def push(**fields: Any) -> None:
        hub.publish("replay", {"replay": replay_id, **fields})

    all_passed = True
    try:
        fixtures = load_all(paths)
        server = local_settings(runtime.tenants)
        check_settings(fixtures, server, endpoint)
        source = reply_source(endpoint, server, None, None, Settings().telegram_bot_id)
        secrets = channel_secrets()
        start = aligned_start(time.time())
        offsets = stagger(fixtures, speed, max_rate=6.0)
        for fixture in fixtures:
            for name in [b.name for b in fixture.bursts] + [s.name for s in fixture.silences]:
                push(file=fixture.path.name, burst=name, status="running", detail="")
        with ThreadPoolExecutor(max_workers=len(fixtures), thread_name_prefix=f"replay-{replay_id}") as pool:
            futures = {
                pool.submit(
                    play, fixture, endpoint=endpoint, source=source, secrets=secrets, start=start + offset, speed=speed
                ): fixture
                for offset, fixture in zip(offsets, fixtures, strict=True)
            }
            for future in as_completed(futures):
                playback = future.result()
                for outcome in playback.outcomes:
                    all_passed &= outcome.ok
                    # As the command line says it: LATE, not judged, when the loaded server shifted the timeline.
                    status = "passed" if outcome.ok else "late" if outcome.unjudged else "failed"
                    detail = f"not judged, {outcome.unjudged}: {outcome.reason}" if outcome.unjudged else outcome.reason
                    push(file=futures[future].path.name, burst=outcome.subject, status=status, detail=detail)
    except ReplayError as error:
        all_passed = False
        push(file=None, burst=None, status="failed", detail=str(error))
    except Exception as error:  # the replay thread must report, whatever happened
        log.exception("console replay %s failed", replay_id)
        all_passed = False
        push(file=None, burst=None, status="failed", detail=f"{type(error).__name__}: {error}")
    push(done=True, passed=all_passed)
