"""Conversations: open one, talk over HTTP or a WebSocket, read the transcript."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, WebSocket, WebSocketDisconnect, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from bot.api.deps import (
    CLOSE_TRY_AGAIN,
    SOCKET_UNAVAILABLE,
    ConversationIdDep,
    DeskDep,
    GatewayDep,
    SessionDep,
    SocketConversationIdDep,
    StateDep,
    conversation_token,
)
from bot.api.schemas.errors import refusals
from bot.chat.gateway import ChatGateway
from bot.conversations.hub import CLOSE_LAGGING, Subscription
from bot.conversations.schemas import (
    ConversationCreate,
    ConversationPublic,
    ConversationStatePublic,
    ExchangePublic,
    MessageCreate,
    MessageFrame,
    MessagePublic,
    MessagesPublic,
    TypingFrame,
)
from bot.conversations.store import ConversationNotFoundError, ConversationStore
from bot.handoff.errors import HandoffConflictError
from bot.handoff.schemas import RatingCreate, RatingPublic
from bot.mail.outbox import TranscriptThrottledError, shown_in_widget
from bot.mail.schemas import TranscriptCreate, TranscriptQueuedPublic, TranscriptThrottledPublic
from db.base import MAX_ROW_ID, utcnow
from db.engine import UNAVAILABLE_ERRORS, in_worker_thread
from tracing import request_id

log = logging.getLogger(__name__)
router = APIRouter(prefix="/conversations", tags=["conversations"])

# WebSocket close codes (4000-4999 are the application's) besides 4401/4403 (bot.api.deps).
CLOSE_UNKNOWN_CONVERSATION = 4404


def _not_found(error: ConversationNotFoundError) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, str(error))


@router.post("", response_model=ConversationPublic, status_code=status.HTTP_201_CREATED)
def open_conversation(
    body: ConversationCreate, session: SessionDep, state: StateDep
) -> ConversationPublic:
    conversation = ConversationStore(session).open(body.language)
    token = conversation_token(state.settings.secret_key, conversation.id)
    return ConversationPublic(id=conversation.id, token=token)


@router.get(
    "/{conversation_id}", response_model=ConversationStatePublic, responses=refusals(401, 403, 404)
)
def read_conversation(
    conversation_id: ConversationIdDep, session: SessionDep, state: StateDep
) -> ConversationStatePublic:
    """Whether the widget offers "Email me this conversation" (the service sends mail), and
    the address to offer it to (docs/widget.md)."""
    try:
        conversation = ConversationStore(session).get(conversation_id)
    except ConversationNotFoundError as error:
        raise _not_found(error) from error
    return ConversationStatePublic(
        id=conversation.id,
        channel="email" if conversation.channel == "email" else "widget",
        email_transcript=state.outbox.enabled,
        contact_email=conversation.contact_email,
    )


@router.post(
    "/{conversation_id}/messages", response_model=ExchangePublic, responses=refusals(401, 403, 404)
)
async def send_message(
    conversation_id: ConversationIdDep, body: MessageCreate, gateway: GatewayDep
) -> ExchangePublic:
    """Store the customer's message, then answer it; a resent id returns the first answer."""
    try:
        return await gateway.receive(conversation_id, body)
    except ConversationNotFoundError as error:
        raise _not_found(error) from error


@router.get(
    "/{conversation_id}/messages", response_model=MessagesPublic, responses=refusals(401, 403, 404)
)
def read_messages(
    conversation_id: ConversationIdDep,
    session: SessionDep,
    state: StateDep,
    after: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
) -> MessagesPublic:
    try:
        messages = ConversationStore(session).transcript(conversation_id, after)
    except ConversationNotFoundError as error:
        raise _not_found(error) from error
    if (
        messages and state.outbox.enabled
    ):  # the widget shows them: agents' replies among them need no mail
        shown_in_widget(session, conversation_id, messages[-1].id)
        session.commit()
    return MessagesPublic(data=[MessagePublic.of(m) for m in messages], count=len(messages))


@router.post(
    "/{conversation_id}/transcript",
    response_model=TranscriptQueuedPublic,
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        **refusals(401, 403, 404, 409),
        429: {
            "model": TranscriptThrottledPublic,
            "description": "Too many transcripts (which limit: `limit`); the Retry-After "
            "header says when to try again",
        },
    },
)
def email_transcript(
    conversation_id: ConversationIdDep,
    body: TranscriptCreate,
    session: SessionDep,
    state: StateDep,
) -> TranscriptQueuedPublic | JSONResponse:
    """ "Email me this conversation": the transcript so far goes to the address given, at most
    3 an hour per conversation and 5 a day to one address from any conversation (429 beyond,
    saying which); 409 when the service sends no mail (a choice of its configuration, not a
    fault: nothing to retry)."""
    if not state.outbox.enabled:
        raise HTTPException(status.HTTP_409_CONFLICT, "this service sends no email")
    try:
        conversation = ConversationStore(session).get(conversation_id)
        mail = state.outbox.transcript(session, conversation, body.email, utcnow())
    except ConversationNotFoundError as error:
        raise _not_found(error) from error
    except TranscriptThrottledError as error:
        log.info("transcript of %s refused: %s", conversation_id, error)
        refusal = TranscriptThrottledPublic(detail=str(error), limit=error.limit)
        retry_after = str(math.ceil(error.retry_after.total_seconds()))
        return JSONResponse(
            refusal.model_dump(),
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            headers={"Retry-After": retry_after},
        )
    assert mail is not None  # email is on
    session.commit()
    return TranscriptQueuedPublic(to=mail.to_address)


@router.post(
    "/{conversation_id}/rating",
    response_model=RatingPublic,
    status_code=status.HTTP_201_CREATED,
    responses=refusals(401, 403, 404, 409),
)
async def rate_conversation(
    conversation_id: ConversationIdDep, body: RatingCreate, desk: DeskDep
) -> RatingPublic:
    """The customer's satisfaction (1–5) at the end; once per conversation (409 after)."""
    try:
        return await desk.rate(conversation_id, body.score, body.comment)
    except ConversationNotFoundError as error:
        raise _not_found(error) from error
    except HandoffConflictError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from error


@router.websocket("/{conversation_id}/ws")
async def conversation_socket(
    conversation_id: SocketConversationIdDep,
    websocket: WebSocket,
    gateway: GatewayDep,
    state: StateDep,
    after: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
) -> None:
    """Messages both ways (the token comes as ``?token=``). On connect, every stored message
    after ``after`` is replayed, then ``ready``: a widget that reconnects loses nothing and,
    keyed by id, doubles nothing."""
    with gateway.hub.subscribe(conversation_id) as subscription:
        try:
            backlog = await gateway.transcript(conversation_id, after)
        except ConversationNotFoundError as error:
            await websocket.close(CLOSE_UNKNOWN_CONVERSATION, str(error))
            return
        except UNAVAILABLE_ERRORS as error:
            await _close_unavailable(websocket, "no replay", error)
            return
        for message in backlog:
            await websocket.send_json(message.frame())
        last_id = backlog[-1].id if backlog else after
        await websocket.send_json({"type": "ready", "last_id": last_id})
        if last_id and state.outbox.enabled:
            # Shown: agents' replies waiting for their grace period need no mail.
            try:
                await in_worker_thread(state.sessions, shown_in_widget, conversation_id, last_id)
            except UNAVAILABLE_ERRORS as error:
                await _close_unavailable(websocket, "replay not marked shown", error)
                return
        await _serve(websocket, conversation_id, gateway, subscription, last_id)


async def _close_unavailable(websocket: WebSocket, what: str, error: Exception) -> None:
    """The database is down: close with 1013, which the widget reconnects after."""
    log.warning("database unavailable, socket closed (%s): %s", what, type(error).__name__)
    await websocket.close(CLOSE_TRY_AGAIN, SOCKET_UNAVAILABLE)


async def _serve(
    websocket: WebSocket,
    conversation_id: str,
    gateway: ChatGateway,
    subscription: Subscription,
    replayed_up_to: int,
) -> None:
    """Read customer frames and write pushed frames until either side goes away."""
    answering: set[asyncio.Task[None]] = set()
    # A widget resends its outbox back to back after a reconnect: each message is stored in
    # the order it came (the lock's waiters are served first come, first served; each task
    # asks for it in its first step, in the order the reader made them), then answered beside
    # the reader.
    storing = asyncio.Lock()

    async def read() -> None:
        while True:
            received = await websocket.receive()
            if received["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(received.get("code", 1000))
            raw = received.get("text")
            if raw is None:  # a binary frame: the protocol is JSON text
                await websocket.send_json(
                    {"type": "error", "detail": "frames are JSON text", "client_message_id": None}
                )
                continue
            frame = _parse(raw)
            if isinstance(frame, dict):
                await websocket.send_json(frame)
                continue
            if isinstance(frame, TypingFrame):
                await gateway.customer_typing(conversation_id, frame.active)
                continue
            # Answering runs beside the reader, so typing and later frames are not held up.
            task = asyncio.create_task(_answer(websocket, conversation_id, gateway, frame, storing))
            answering.add(task)
            task.add_done_callback(answering.discard)

    async def write() -> None:
        while True:
            frame = await subscription.frames.get()
            message = frame.get("message")
            if message is not None and message["id"] <= replayed_up_to:
                continue  # stored before the replay read it: already sent
            await websocket.send_json(frame)

    async def lagging() -> None:
        await subscription.lagging.wait()
        await websocket.close(CLOSE_LAGGING, "too far behind; reconnect to catch up")

    tasks = [asyncio.create_task(job()) for job in (read, write, lagging)]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        # A message already stored is still answered and stored, even if its socket is gone.
        if answering:
            await asyncio.gather(*answering, return_exceptions=True)
    for task in tasks:
        if task.done() and not task.cancelled():
            error = task.exception()
            if error is not None and not isinstance(error, WebSocketDisconnect | RuntimeError):
                raise error


def _parse(raw: str) -> MessageFrame | TypingFrame | dict[str, Any]:
    """A valid message or typing frame, or the error frame to send back (the socket stays
    open)."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):  # RecursionError: JSON nested too deep
        return {"type": "error", "detail": "frame is not valid JSON", "client_message_id": None}
    client_message_id = data.get("client_message_id") if isinstance(data, dict) else None
    is_typing = isinstance(data, dict) and data.get("type") == "typing"
    try:
        return (TypingFrame if is_typing else MessageFrame).model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "frame"
        return {
            "type": "error",
            "detail": f"{where}: {first['msg']}",
            "client_message_id": client_message_id if isinstance(client_message_id, str) else None,
        }


async def _answer(
    websocket: WebSocket,
    conversation_id: str,
    gateway: ChatGateway,
    frame: MessageFrame,
    storing: asyncio.Lock,
) -> None:
    incoming = MessageCreate.model_validate(frame.model_dump(exclude={"type"}))
    # Each message its own request id (the socket is not one request), through Rasa and back.
    with request_id.handling(request_id.new_request_id()):
        try:
            exchange = await gateway.receive(conversation_id, incoming, storing=storing)
        except UNAVAILABLE_ERRORS as error:
            log.warning("database unavailable, message not stored: %s", type(error).__name__)
            await websocket.close(CLOSE_TRY_AGAIN, "the service cannot store messages now")
            return
    if exchange.duplicate:
        # Pushed to every socket the first time; this one asked again, so it gets it again.
        for message in (exchange.message, *exchange.replies):
            await websocket.send_json(message.frame())
