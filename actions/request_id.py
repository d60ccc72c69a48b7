"""The request id of the message an action answers, as the service sent it to Rasa (in the
message's metadata), kept for the action's calls to the service and its log lines: the action
server's middleware (actions/server.py) reads it from each action call's tracker."""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from typing import Any

from tracing import request_id


def of_tracker(tracker_state: Mapping[str, Any]) -> str | None:
    """The sane request id in a tracker's latest message (``Tracker.current_state()`` or the
    action call's ``tracker``), or None."""
    latest = tracker_state.get("latest_message")
    metadata = latest.get("metadata") if isinstance(latest, Mapping) else None
    candidate = metadata.get(request_id.METADATA_KEY) if isinstance(metadata, Mapping) else None
    if isinstance(candidate, str) and request_id.SANE.fullmatch(candidate):
        return candidate
    return None


def tracker_of_call(body: bytes, content_encoding: str | None) -> Mapping[str, Any] | None:
    """The tracker of an action call as Rasa posts it (deflated when Rasa is told to
    compress), or None for a body that is not one (rasa_sdk answers that itself)."""
    try:
        raw = zlib.decompress(body) if content_encoding == "deflate" else body
        call = json.loads(raw) if raw else None
    except (zlib.error, ValueError, RecursionError):
        return None
    return tracker_in(call)


def tracker_in(call: Any) -> Mapping[str, Any] | None:
    """The tracker of a parsed action call, or None for anything else."""
    tracker = call.get("tracker") if isinstance(call, dict) else None
    return tracker if isinstance(tracker, Mapping) else None


def remember(tracker_state: Mapping[str, Any] | None) -> None:
    """The request and conversation of the action call being answered, for its calls to the
    service and its log lines (both None when the call carries none)."""
    state = tracker_state or {}
    sender = state.get("sender_id")
    request_id.request_id.set(of_tracker(state))
    request_id.conversation_id.set(sender if isinstance(sender, str) else None)
