"""HEAD and OPTIONS on the local server: a local route answers them itself; the webhook routes leave them to
post_message, as API Gateway's $default route does (no CORS configured)."""

from __future__ import annotations

import http.client
import json

import pytest

from tests.e2e.conftest import Server

pytestmark = pytest.mark.xdist_group("e2e")


def _raw(server: Server, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    """One request read with http.client, which reads no body for HEAD and for a 204, as HTTP says."""
    host, port = server.base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=15)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_head_on_a_local_route_is_get_without_the_body(server: Server) -> None:
    get_status, get_headers, get_body = _raw(server, "GET", "/local/settings")
    status, headers, body = _raw(server, "HEAD", "/local/settings")
    assert (status, body) == (get_status, b"") == (200, b"")
    assert headers["Content-Length"] == get_headers["Content-Length"] == str(len(get_body))
    assert headers["Content-Type"] == "application/json"


def test_options_on_a_local_route_is_204_with_allow(server: Server) -> None:
    for path, allow in [("/local/outbox", "GET"), ("/local/ttl-sweep", "POST")]:
        status, headers, body = _raw(server, "OPTIONS", path)
        assert (status, headers.get("Allow"), body) == (204, allow, b""), path
        assert "Content-Length" not in headers


def test_head_and_options_on_the_webhook_routes_are_post_messages_answer(server: Server) -> None:
    status, headers, body = _raw(server, "OPTIONS", "/webhook/generic")
    assert (status, headers.get("Allow")) == (405, "POST")
    assert "not allowed" in json.loads(body)["error"]
    status, headers, body = _raw(server, "HEAD", "/health")
    assert (status, headers.get("Allow"), body) == (405, "GET", b"")
