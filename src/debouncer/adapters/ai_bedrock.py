"""Amazon Bedrock through the Converse API: one call per burst, every failure mapped to PermanentError."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

from debouncer.domain.errors import PermanentError
from debouncer.domain.ports import AIRequest
from debouncer.domain.prompt import ChatTurn, conversation, fitted
from debouncer.media.limits import BEDROCK, MediaLimits
from debouncer.media.model import MediaPart, TextPart

# Errors a later call could get past. botocore's standard mode has already retried most of them
# (ModelTimeoutException excepted: it is not in botocore's retry list), so reaching us means we give up.
_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "ServiceUnavailableException",
        "InternalServerException",
        "ModelTimeoutException",
        "ModelNotReadyException",
    }
)
# AWS error messages name the cause ("model identifier is invalid"); cap them so a dead-letter record stays small.
_MAX_DETAIL = 200
# DocumentBlock.name (AWS API reference): 1 to 200 characters, only alphanumerics, single whitespace characters,
# hyphens, parentheses and square brackets. ASCII only: whether "alphanumeric" covers other scripts is not said.
_NAME_FORBIDDEN = re.compile(r"[^A-Za-z0-9()\[\]\- ]")
_MAX_NAME = 200
# Converse refuses a message with a document and no text block; this one says only what is true.
_DOCUMENT_WITHOUT_TEXT = "[sent without any text]"


def client_config(*, max_attempts: int, timeout_seconds: float) -> Config:
    """botocore settings for the bedrock-runtime client: `max_attempts` calls in all, each bounded by the timeout.

    botocore's `max_attempts` counts retries (3 means four calls); `total_max_attempts` counts the calls themselves.
    """
    return Config(
        retries={"total_max_attempts": max_attempts, "mode": "standard"},
        connect_timeout=min(5.0, timeout_seconds),
        read_timeout=timeout_seconds,
    )


class BedrockAI:
    """Implements AIProvider with `bedrock-runtime` Converse.

    Retries and timeouts belong to the client the caller builds, e.g.
    `boto3.client("bedrock-runtime", config=client_config(max_attempts=2, timeout_seconds=25))`; this adapter only
    maps what is left once botocore gives up.
    """

    uses_history = True

    def __init__(
        self,
        client: Any,
        model_id: str,
        *,
        max_tokens: int,
        temperature: float | None = None,
        media: bool = True,
        limits: MediaLimits = BEDROCK,
    ) -> None:
        self._client = client
        self._model_id = model_id
        self._limits = limits if media else None  # None: a text-only model gets placeholders for every item
        self._inference: dict[str, Any] = {"maxTokens": max_tokens}
        if temperature is not None:
            self._inference["temperature"] = temperature

    def answer(self, request: AIRequest) -> str:
        """Send history + burst; return the text of the model's reply, or raise PermanentError."""
        chat = conversation(request)
        params: dict[str, Any] = {
            "modelId": self._model_id,
            "messages": [{"role": turn.role, "content": self._content(turn)} for turn in chat.turns],
            "inferenceConfig": self._inference,
        }
        if chat.system.strip():  # Converse rejects an empty system text block
            params["system"] = [{"text": chat.system}]
        try:
            response = self._client.converse(**params)
        except ClientError as e:
            raise PermanentError(self._describe(e)) from e
        except (ConnectionError, HTTPClientError) as e:
            # The class name only: botocore's message holds the endpoint URL, and says nothing more useful.
            raise PermanentError(f"Bedrock {self._model_id}: {type(e).__name__}, transient, retries exhausted") from e
        except BotoCoreError as e:  # client-side: bad parameters, no credentials
            raise PermanentError(f"Bedrock {self._model_id}: {type(e).__name__}, permanent") from e
        return self._text(response)

    def _content(self, turn: ChatTurn) -> list[dict[str, Any]]:
        """Converse content blocks: text, then images and documents where the burst has them, in burst order."""
        blocks: list[dict[str, Any]] = []
        names: set[str] = set()
        for item in fitted(turn, self._limits):
            if isinstance(item, TextPart):
                blocks.append({"text": item.text})
            elif item.category == "image":
                blocks.append({"image": {"format": item.format, "source": {"bytes": item.part.data}}})
            else:
                name = document_name(item.part, names)
                blocks.append({"document": {"format": item.format, "name": name, "source": {"bytes": item.part.data}}})
        if any("document" in b for b in blocks) and not any("text" in b for b in blocks):
            blocks.append({"text": _DOCUMENT_WITHOUT_TEXT})
        return blocks

    def _describe(self, error: ClientError) -> str:
        info = error.response.get("Error", {})
        meta = error.response.get("ResponseMetadata", {})
        code = str(info.get("Code", "Unknown"))
        kind = (
            f"transient, gave up after {int(meta.get('RetryAttempts', 0)) + 1} attempt(s)"
            if code in _TRANSIENT_CODES
            else "permanent"
        )
        detail = str(info.get("Message", ""))[:_MAX_DETAIL]
        return f"Bedrock {self._model_id}: {code} (HTTP {meta.get('HTTPStatusCode', '?')}), {kind}: {detail}"

    def _text(self, response: dict[str, Any]) -> str:
        blocks = response.get("output", {}).get("message", {}).get("content", [])
        # Other blocks (reasoningContent, toolUse...) are not for the user. A guardrail or content filter
        # still returns its own replacement text, which is what the user should see.
        text = "".join(block["text"] for block in blocks if "text" in block).strip()
        if not text:
            reason = response.get("stopReason", "unknown")
            raise PermanentError(f"Bedrock {self._model_id}: empty answer, stopReason {reason}")
        return text


def document_name(part: MediaPart, taken: set[str]) -> str:
    """A DocumentBlock name Converse accepts, from the file name without its extension (the format says it), made
    unique among `taken` (Converse refuses two documents of one name) and added to it."""
    stem = re.split(r"[/\\]", part.filename or "")[-1]  # the base name: a path says nothing about the file
    stem = re.sub(r"(?<=.)\.[A-Za-z0-9]{1,5}$", "", stem)
    plain = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()  # "résumé" -> "resume"
    # Room for a " (n)" suffix within the 200 characters.
    name = " ".join(_NAME_FORBIDDEN.sub(" ", plain).split())[: _MAX_NAME - 10].strip()
    name = name or " ".join(_NAME_FORBIDDEN.sub(" ", part.kind).split()) or "document"
    unique, n = name, 1
    while unique in taken:
        n += 1
        unique = f"{name} ({n})"
    taken.add(unique)
    return unique
