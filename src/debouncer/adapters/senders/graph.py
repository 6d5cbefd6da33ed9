"""The Meta Graph API's error body, shared by the WhatsApp and Instagram senders (channels.md §1.6, §3.4)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from debouncer.adapters.senders import http
from debouncer.domain.errors import PermanentError, RetryableError

# error.code -> (retryable, why). Meta says to decide on the code, not the HTTP status.
ErrorCodes = Mapping[int, tuple[bool, str]]


def graph_error(channel: str, codes: ErrorCodes, response: httpx.Response) -> RetryableError | PermanentError:
    """The failure a Graph API error response means, its reason spelled out for the DLQ (never the token)."""
    error = http.json_object(response).get("error")
    error = error if isinstance(error, dict) else {}
    code: Any = error.get("code")
    subcode = error.get("error_subcode")
    data = error.get("error_data")
    details = data.get("details") if isinstance(data, dict) else None
    # Codes not listed fall back to the HTTP status.
    retryable, why = codes.get(code, (response.status_code == 429 or response.status_code >= 500, ""))
    said = "; ".join(str(part) for part in (error.get("message"), details) if part) or response.reason_phrase
    reason = f"{channel}: HTTP {response.status_code}"
    reason += f", error {code}" if code is not None else ""
    reason += f" subcode {subcode}" if subcode is not None else ""
    reason += f" ({why}): {said}" if why else f": {said}"
    # Meta support asks for the trace id.
    reason += f" [fbtrace_id {error['fbtrace_id']}]" if error.get("fbtrace_id") else ""
    if retryable:
        return RetryableError(reason, retry_after=http.retry_after(response))
    return PermanentError(reason)
