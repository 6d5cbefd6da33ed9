"""The admin API's request models (debouncer.api.admin), built on its first request: the webhook never needs them."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, ValidationError

from debouncer.config import DAY
from debouncer.domain.models import Channel

MAX_PAUSE_SECONDS = 30 * DAY  # as long as a handoff may pause (Settings.handoff_seconds)


def _id_text(value: object) -> object:
    """Ids as text: a JSON integer is accepted too (Telegram chat ids are numbers), a bool is not."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value.strip() if isinstance(value, str) else value


# A DynamoDB key part (recipient ids and account ids are in the directory's keys): non-blank, and short.
Id = Annotated[str, BeforeValidator(_id_text), Field(min_length=1, max_length=1000)]


class ConversationRequest(BaseModel):
    """What every admin request names: one recipient's conversations on a channel, in one account or any."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    channel: Channel
    recipient: Id
    account: Id | None = None


class ResumeRequest(ConversationRequest):
    """The body of POST /admin/conversations/resume (and the query of GET .../status)."""


class PauseRequest(ConversationRequest):
    """The body of POST /admin/conversations/pause."""

    seconds: StrictInt = Field(gt=0, le=MAX_PAUSE_SECONDS)


# What each field must be, said once and clearly (pydantic's own wording varies with the kind of mistake).
_FIELD_RULES = {
    "channel": "channel must be one of whatsapp, telegram, instagram, generic",
    "recipient": "recipient must be a non-blank string (the id replies go to) of at most 1000 characters",
    "account": "account, when given, must be a non-blank string (the business account id) of at most 1000 characters",
    "seconds": f"seconds must be a whole number from 1 to {MAX_PAUSE_SECONDS} (30 days)",
}


def problems(error: ValidationError) -> str:
    """Every mistake of a request, by field name (never the values: they may be phone numbers)."""
    said: list[str] = []
    for err in error.errors():
        field = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            text = f"unknown field '{field}'"
        elif err["type"] == "missing":
            text = f"missing field '{field}'"
        else:
            text = _FIELD_RULES.get(field, f"{field}: {err['msg']}")
        if text not in said:
            said.append(text)
    return "; ".join(said)
