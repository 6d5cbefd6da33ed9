"""The admin API's authorization as AWS has it: API Gateway's IAM authorizer, no bearer token configured.

On AWS the admin routes take IAM authorization (SigV4): API Gateway refuses unsigned calls before the Lambda, and puts
the verified caller in the payload v2 event's requestContext.authorizer.iam. These events are built here as API
Gateway would send them and given to post_message directly.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from debouncer.local.runtime import ACCOUNT, LocalRuntime, api_gateway_event
from tests import builders
from tests.conftest import RuntimeFactory, post, replies_to, wait_for

PAUSE, STATUS = "/admin/conversations/pause", "/admin/conversations/status"
IAM_CALLER = {
    "accessKey": "ASIAEXAMPLEKEY000000",
    "accountId": ACCOUNT,
    "callerId": "AROAEXAMPLEROLE000000:operator",
    "cognitoIdentity": None,
    "principalOrgId": None,
    "userArn": f"arn:aws:sts::{ACCOUNT}:assumed-role/support-admin/operator",
    "userId": "AROAEXAMPLEROLE000000:operator",
}


def invoke(
    runtime: LocalRuntime,
    method: str,
    path: str,
    *,
    body: dict[str, Any] | None = None,
    query: str = "",
    headers: dict[str, str] | None = None,
    authorizer: dict[str, Any] | None = None,
) -> tuple[int, dict[str, str], dict[str, Any]]:
    """post_message's answer to one API Gateway v2 event, with `authorizer` as API Gateway would set it."""
    raw = json.dumps(body).encode() if body is not None else b""
    event = api_gateway_event(
        method, path, body=raw, headers={"Content-Type": "application/json", **(headers or {})}, query=query
    )
    if authorizer is not None:
        event["requestContext"]["authorizer"] = authorizer
    response = runtime.emulator.invoke("post_message", event)
    return int(response["statusCode"]), dict(response.get("headers") or {}), json.loads(response["body"])


def test_iam_authorized_requests_need_no_bearer_and_others_are_refused(start_runtime: RuntimeFactory) -> None:
    # GIVEN the runtime as on AWS: no ADMIN_TOKEN (blank counts as unset), and a conversation with one person
    runtime = start_runtime(ADMIN_TOKEN="")
    user = "1555" + uuid.uuid4().hex[:8]
    assert (
        post(runtime, "whatsapp", builders.whatsapp(user, builders.wa_message(user, f"wamid.{user}", "hi")))[0] == 200
    )
    pause = {"channel": "whatsapp", "recipient": user, "seconds": 300}
    query = f"channel=whatsapp&recipient={user}"
    # The admin API knows a conversation from its first burst's claim: here, once it is answered.
    wait_for(lambda: replies_to(runtime, user))

    # WHEN a call comes without API Gateway's IAM context, whatever its Authorization header: refused
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer local-admin-token"}):
        status, response_headers, answer = invoke(runtime, "POST", PAUSE, body=pause, headers=headers)
        assert (status, response_headers.get("WWW-Authenticate")) == (401, "Bearer"), (headers, answer)
    # AND an authorizer that is not IAM (a JWT or Lambda authorizer on some other route) does not stand for it
    others: list[dict[str, Any]] = [{}, {"iam": {}}, {"iam": None}, {"jwt": {"claims": {"sub": "x"}, "scopes": []}}]
    for authorizer in others:
        assert invoke(runtime, "POST", PAUSE, body=pause, authorizer=authorizer)[0] == 401, authorizer
    # AND the local HTTP front door never builds one: a client's headers stay headers
    assert runtime.http("GET", STATUS, query=query, headers={"Authorizer": "iam", "Iam": "{}"})[0] == 401
    assert (
        "authorizer" not in api_gateway_event("GET", STATUS, body=b"", headers={"Authorizer": "iam"})["requestContext"]
    )

    # THEN the IAM-authorized calls, with no bearer at all, act
    status, _, before = invoke(runtime, "GET", STATUS, query=query, authorizer={"iam": IAM_CALLER})
    assert (status, before["paused"]) == (200, False), before
    status, _, paused = invoke(runtime, "POST", PAUSE, body=pause, authorizer={"iam": IAM_CALLER})
    assert (status, paused["paused"], paused["conversations"]) == (200, True, 1), paused
    status, _, after = invoke(runtime, "GET", STATUS, query=query, authorizer={"iam": IAM_CALLER})
    assert (status, after) == (200, paused)
    resume = {"channel": "whatsapp", "recipient": user}
    status, _, resumed = invoke(
        runtime, "POST", "/admin/conversations/resume", body=resume, authorizer={"iam": IAM_CALLER}
    )
    assert (status, resumed["paused"], resumed["paused_until"]) == (200, False, None), resumed
