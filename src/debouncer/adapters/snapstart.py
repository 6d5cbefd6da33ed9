"""Lambda SnapStart: what an execution environment restored from a snapshot must not keep from the init it copies.

Lambda snapshots a published version once, after its init, and restores that one snapshot into every new execution
environment, possibly days later. After each restore:
- the pooled HTTP connections of the boto3 and httpx clients built at init are dropped: their sockets did not survive
  the snapshot, and a request sent on one would first fail (or wait out a timeout) before being retried;
- `random` is reseeded: every environment restored from one snapshot would otherwise draw the same sequence, so the
  full-jitter backoff of the HTTP adapters (adapters.http_retry) would retry them all in step.

Credentials need nothing here: with SnapStart, Lambda serves the function's role credentials through the container
credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI) rather than AWS_ACCESS_KEY_ID and friends, and botocore's
provider for it returns refreshable credentials that it fetches again before they expire, on the first call needing
them: credentials that expired while the snapshot waited are never signed with.

snapshot_restore_py ships with Lambda's Python runtimes only: elsewhere (tests, the local runtime) register_hooks does
nothing.
"""

from __future__ import annotations

import gc
import random
import sys
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["after_restore", "live_clients", "register_hooks"]


def register_hooks(clients: Callable[[], Iterable[object]] | None = None) -> bool:
    """Note `clients()` (default: every live client) when the snapshot is taken, and run after_restore on them after
    each restore; False outside SnapStart, where nothing is registered."""
    try:
        from snapshot_restore_py import (  # type: ignore[import-not-found, unused-ignore]
            register_after_restore,
            register_before_snapshot,
        )
    except ImportError:
        return False
    snapshotted: list[object] = []
    # Found once, at snapshot time (billed as init, once per published version), not at each restore: the heap scan
    # takes tens of milliseconds, which every restore would add to its billed duration and to the first answer.
    # A client built after the restore opens its connections after it, and needs nothing.
    register_before_snapshot(lambda: snapshotted.extend((clients or live_clients)()))
    register_after_restore(lambda: after_restore(snapshotted))
    return True


def after_restore(clients: Iterable[object]) -> int:
    """Drop the pooled connections of these boto3 and httpx clients, each staying usable (its next request connects
    anew), and reseed `random`; returns how many clients were handled."""
    botocore_client, httpx_client = _client_types()
    handled = 0
    for client in clients:
        if botocore_client is not None and isinstance(client, botocore_client):
            client.close()  # empties the endpoint's urllib3 pools; the next request opens a new one
            handled += 1
        elif httpx_client is not None and isinstance(client, httpx_client):
            _drop_httpx_connections(client)
            handled += 1
    random.seed()  # from os.urandom, read now: after the restore
    return handled


def live_clients() -> list[object]:
    """Every boto3 and httpx client alive in this process.

    The composition root keeps them deep inside its use cases (and one set per tenant), so they are found on the heap
    rather than listed: a client added to wiring later is covered without anyone remembering this module.
    """
    kinds = tuple(kind for kind in _client_types() if kind is not None)
    if not kinds:
        return []
    # What init froze (debouncer.adapters.cold_start) is in no generation, so get_objects would not see it.
    frozen = gc.get_freeze_count() > 0
    if frozen:
        gc.unfreeze()
    try:
        return [o for o in gc.get_objects() if isinstance(o, kinds)]
    finally:
        if frozen:
            gc.freeze()


def _client_types() -> tuple[type[Any] | None, type[Any] | None]:
    """botocore's and httpx's client classes, if imported: a module never imported has no client to renew, and
    importing httpx here would cost post_message's init what its own code never spends."""
    botocore_client = sys.modules.get("botocore.client")
    httpx = sys.modules.get("httpx")
    return (
        None if botocore_client is None else botocore_client.BaseClient,
        None if httpx is None else httpx.Client,
    )


def _drop_httpx_connections(client: Any) -> None:
    """Close the client's transports' pools, leaving the client open.

    httpx has no public call for this: Client.close() would refuse every later request. An HTTPTransport's close()
    only empties its httpcore pool, which opens new connections on demand.
    """
    for transport in (client._transport, *client._mounts.values()):
        if transport is not None:
            transport.close()
