"""The AWS actions each role really calls, recorded from every request the code emits, against the committed list.

tests/iam/observed_actions.json is what tests/terraform/test_iam_grants.py compares the Terraform grants with, so
a call added to the code without its grant (or a grant no code needs) fails one of the two tests.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from pytest_httpserver import HTTPServer

from debouncer.adapters.ai_echo import EchoAI
from debouncer.domain.errors import PermanentError
from debouncer.domain.ports import OutboundMessage, TextLimit
from tests import builders
from tests.conftest import RuntimeFactory, executions_settled, post, replies_to, wait_for

OBSERVED = Path(__file__).parents[1] / "iam" / "observed_actions.json"
ROLES = ("post_message", "process_message", "reply", "state_machine")


class HistoryEchoAI(EchoAI):
    """Echo, but asking for history like the real providers do, so the history query runs."""

    uses_history = True


class BlockedSender:
    """A channel that refuses permanently: the burst goes to the DLQ."""

    text_limit = TextLimit(4096)

    def send(self, message: OutboundMessage) -> str | None:
        if message.recipient_id.startswith("blocked"):
            raise PermanentError("user blocked the bot")
        from debouncer.adapters.outbox import LOCAL_OUTBOX

        LOCAL_OUTBOX.add({"recipient": message.recipient_id, "message_ids": list(message.message_ids)})
        return f"sent-{uuid.uuid4().hex}"  # Instagram's send id, recorded so its echo is known as ours
        return None


def test_every_path_calls_exactly_the_committed_actions(start_runtime: RuntimeFactory, httpserver: HTTPServer) -> None:
    runtime = start_runtime(MAX_MESSAGES="2")
    runtime.handlers["process_message"].processors.default._ai = HistoryEchoAI()
    runtime.handlers["reply"].repliers.default._senders = {
        channel: BlockedSender() for channel in ("whatsapp", "generic", "instagram")
    }
    user, blocked = "1555" + uuid.uuid4().hex[:8], "blocked" + uuid.uuid4().hex[:8]

    # GIVEN a burst with a photo (read once into the media bucket)
    httpserver.expect_request("/photo.png").respond_with_data(b"\x89PNG\r\n\x1a\n photo", content_type="image/png")
    photo = {"url": httpserver.url_for("/photo.png"), "mime_type": "image/png"}
    post(runtime, "generic", {**builders.generic(f"conv-{user}", f"m-{user}", "look"), "media": [photo]})
    wait_for(lambda: replies_to(runtime, f"conv-{user}"))

    # GIVEN two bursts for one user (the second reads history), a flush, a duplicate, and a user who blocked us
    for i in range(2):
        post(runtime, "whatsapp", builders.whatsapp(user, builders.wa_message(user, f"wamid.{user}.{i}", "hi")))
    wait_for(lambda: replies_to(runtime, user))
    wait_for(lambda: executions_settled(runtime))
    post(runtime, "whatsapp", builders.whatsapp(user, builders.wa_message(user, f"wamid.{user}.2", "again")))
    post(runtime, "whatsapp", builders.whatsapp(user, builders.wa_message(user, f"wamid.{user}.2", "again")))
    post(runtime, "whatsapp", builders.whatsapp(blocked, builders.wa_message(blocked, f"wamid.{blocked}", "x")))

    # GIVEN an Instagram reply (its send id recorded), an echo to check, an edit of an answered message, and an admin
    ig_user = "17" + uuid.uuid4().hex[:10]
    post(runtime, "instagram", builders.instagram(ig_user, f"mid.{ig_user}", "hi"))
    wait_for(lambda: replies_to(runtime, ig_user))
    post(runtime, "instagram", builders.instagram_echo(ig_user, f"mid.human.{ig_user}", "Hi, Ana here"))
    edit = builders.wa_edit(user, f"wamid.{user}.e", f"wamid.{user}.0", "hey")
    post(runtime, "whatsapp", builders.whatsapp(user, edit))
    status, _, _ = runtime.http(
        "GET",
        "/admin/conversations/status",
        query=f"channel=whatsapp&recipient={user}",
        headers={"Authorization": "Bearer local-admin-token"},
    )
    assert status == 200

    # WHEN every burst has been answered or dead-lettered
    wait_for(lambda: len(replies_to(runtime, user)) == 2)
    wait_for(runtime.dead_letters)
    wait_for(lambda: executions_settled(runtime))

    # THEN each role called exactly the committed actions
    observed = {role: actions for role, actions in runtime.emulator.observed_actions().items() if role in ROLES}
    committed = {role: sorted(actions) for role, actions in json.loads(OBSERVED.read_text()).items()}
    assert observed == committed
