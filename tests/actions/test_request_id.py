"""The request id from the service's message metadata, through the action to its calls back
to the service (X-Request-ID) and into the action server's log lines."""

from __future__ import annotations

import json
import logging
import zlib
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import request_id as action_request
from actions.clients.kefu_service import KefuServiceClient
from actions.faq import ActionAnswerFromKb
from actions.handoff import ActionHandoff
from tests.actions.conftest import TOKEN, FakeService, RunWithService, load_tracker
from tracing import request_id
from tracing.logs import JsonFormatter, RequestContext


def with_request_id(name: str, value: Any) -> Tracker:
    """A tracker from tests/data/trackers/ whose latest message came with this metadata."""
    state = load_tracker(name).current_state()
    state["latest_message"]["metadata"] = {"language": "en", "kefu_request_id": value}
    return Tracker.from_dict(state)


def test_the_id_is_read_from_the_latest_messages_metadata() -> None:
    tracker = with_request_id("question_en", "shop.7f3a_1-x")
    assert action_request.of_tracker(tracker.current_state()) == "shop.7f3a_1-x"


@pytest.mark.parametrize("value", ["two words", "x" * 65, 'a"b', 42, None, ["id"]])
def test_an_unsafe_or_missing_id_is_not_kept(value: Any) -> None:
    tracker = with_request_id("question_en", value)
    assert action_request.of_tracker(tracker.current_state()) is None
    assert action_request.of_tracker(load_tracker("question_en").current_state()) is None


@pytest.mark.parametrize("encoding", [None, "deflate"])
def test_the_tracker_is_read_from_an_action_call_plain_or_compressed(
    encoding: str | None,
) -> None:
    tracker = with_request_id("question_en", "r-1").current_state()
    body = json.dumps({"next_action": "action_answer_from_kb", "tracker": tracker}).encode()
    if encoding == "deflate":
        body = zlib.compress(body)
    read = action_request.tracker_of_call(body, encoding)
    assert read is not None and action_request.of_tracker(read) == "r-1"
    assert action_request.tracker_of_call(b"not json", None) is None
    assert action_request.tracker_of_call(b"\x00\x01", "deflate") is None


def run_remembering(
    with_service: RunWithService, action_of: Any, tracker: Tracker
) -> list[dict[str, Any]]:
    """What the action server does for one call: remember the tracker's ids, run the action
    (in its own task, so nothing leaks into the other tests)."""

    async def body(base_url: str) -> list[dict[str, Any]]:
        action_request.remember(tracker.current_state())
        action = action_of(KefuServiceClient(base_url, TOKEN, timeout_s=2))
        events: list[dict[str, Any]] = await action.run(CollectingDispatcher(), tracker, {})
        return events

    result: list[dict[str, Any]] = with_service(body)
    return result


def test_the_actions_calls_to_the_service_carry_the_messages_id(
    with_service: RunWithService, service: FakeService
) -> None:
    run_remembering(with_service, ActionAnswerFromKb, with_request_id("question_en", "msg-17"))
    run_remembering(with_service, ActionHandoff, with_request_id("handoff_request_zh", "msg-18"))
    assert service.request_ids == ["msg-17", "msg-18"]


def test_without_an_id_the_calls_carry_none(
    with_service: RunWithService, service: FakeService
) -> None:
    run_remembering(with_service, ActionAnswerFromKb, load_tracker("question_en"))
    assert service.request_ids == [None]


def test_the_action_servers_log_lines_carry_the_ids() -> None:
    record = logging.LogRecord("actions.faq", logging.WARNING, "", 1, "search failed", (), None)
    request_token = request_id.request_id.set("msg-19")
    conversation_token = request_id.conversation_id.set("conv-1")
    try:
        assert RequestContext().filter(record)
    finally:
        request_id.request_id.reset(request_token)
        request_id.conversation_id.reset(conversation_token)
    line = json.loads(JsonFormatter().format(record))
    assert (line["request_id"], line["conversation_id"]) == ("msg-19", "conv-1")
    assert (line["level"], line["logger"], line["message"]) == (
        "WARNING",
        "actions.faq",
        "search failed",
    )
