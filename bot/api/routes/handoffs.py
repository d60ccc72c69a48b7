"""The agents' API: the queue, a handoff with its packet, claim, reply, notes, resolve,
return to the bot, and live updates over WebSockets."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, WebSocket, WebSocketDisconnect, status
from pydantic import ValidationError

from bot.api.deps import (
    CLOSE_FORBIDDEN,
    CLOSE_TRY_AGAIN,
    SOCKET_UNAVAILABLE,
    CurrentAgent,
    DeskDep,
    RetrieverDep,
    SessionDep,
    SocketAgent,
    StateDep,
)
from bot.api.schemas.errors import refusals
from bot.api.schemas.kb import KbSearchPublic
from bot.conversations.hub import CLOSE_LAGGING, ConversationHub
from bot.conversations.schemas import MessagePublic, TypingFrame
from bot.handoff.desk import AGENTS_CHANNEL
from bot.handoff.errors import (
    ArticleNotAvailableError,
    HandoffConflictError,
    HandoffForbiddenError,
    HandoffNotFoundError,
    TransferTargetError,
)
from bot.handoff.schemas import (
    AgentMessageCreate,
    HandoffPublic,
    HandoffQueuePublic,
    HandoffSummaryPublic,
    NoteCreate,
    NotePublic,
    QueueFilter,
    TransferCreate,
)
from db.base import MAX_ROW_ID
from db.engine import UNAVAILABLE_ERRORS
from kb.store import ArticleStore

HandoffId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
log = logging.getLogger(__name__)

router = APIRouter(prefix="/handoffs", tags=["handoffs"], responses=refusals(401, 403))
agent_router = APIRouter(prefix="/agent", tags=["handoffs"], responses=refusals(401, 403))


@asynccontextmanager
async def desk_errors() -> AsyncIterator[None]:
    """The desk's refusals as HTTP answers."""
    try:
        yield
    except HandoffNotFoundError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from error
    except HandoffForbiddenError as error:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(error)) from error
    except HandoffConflictError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from error
    except (ArticleNotAvailableError, TransferTargetError) as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from error


@router.get("", response_model=HandoffQueuePublic)
async def read_queue(
    agent: CurrentAgent,
    desk: DeskDep,
    state: StateDep,
    status_: Annotated[QueueFilter, Query(alias="status")] = "open",
) -> HandoffQueuePublic:
    """Handoffs by priority, then waiting time; claimed ones only for their holder."""
    statuses = ("waiting", "assigned") if status_ == "open" else (status_,)
    rows = await desk.queue(statuses, agent)
    return HandoffQueuePublic(
        data=rows,
        count=len(rows),
        first_response_target_s=state.settings.first_response_target_s,
        agents_online=await desk.agents_online(),
    )


@router.get("/{handoff_id}", response_model=HandoffPublic, responses=refusals(404))
async def read_handoff(handoff_id: HandoffId, agent: CurrentAgent, desk: DeskDep) -> HandoffPublic:
    async with desk_errors():
        return await desk.detail(handoff_id, agent)


@router.post(
    "/{handoff_id}/claim", response_model=HandoffSummaryPublic, responses=refusals(404, 409)
)
async def claim_handoff(
    handoff_id: HandoffId, agent: CurrentAgent, desk: DeskDep
) -> HandoffSummaryPublic:
    async with desk_errors():
        return await desk.claim(handoff_id, agent)


@router.post(
    "/{handoff_id}/messages",
    response_model=MessagePublic,
    status_code=status.HTTP_201_CREATED,
    responses=refusals(404, 409, 422),
)
async def reply_to_customer(
    handoff_id: HandoffId, body: AgentMessageCreate, agent: CurrentAgent, desk: DeskDep
) -> MessagePublic:
    """A message to the customer; ``article_ids`` (published articles) arrive as link cards."""
    async with desk_errors():
        return await desk.reply(handoff_id, agent, body.text, body.article_ids)


@router.post(
    "/{handoff_id}/notes",
    response_model=NotePublic,
    status_code=status.HTTP_201_CREATED,
    responses=refusals(404),
)
async def add_note(
    handoff_id: HandoffId, body: NoteCreate, agent: CurrentAgent, desk: DeskDep
) -> NotePublic:
    async with desk_errors():
        return await desk.note(handoff_id, agent, body.text)


@router.post(
    "/{handoff_id}/resolve", response_model=HandoffSummaryPublic, responses=refusals(404, 409)
)
async def resolve_handoff(
    handoff_id: HandoffId, agent: CurrentAgent, desk: DeskDep
) -> HandoffSummaryPublic:
    async with desk_errors():
        return await desk.resolve(handoff_id, agent)


@router.post(
    "/{handoff_id}/transfer",
    response_model=HandoffSummaryPublic,
    responses=refusals(404, 409, 422),
)
async def transfer_handoff(
    handoff_id: HandoffId, body: TransferCreate, agent: CurrentAgent, desk: DeskDep
) -> HandoffSummaryPublic:
    """Hand a held conversation to another agent (``to_agent_id``) or back to the queue
    (``null``), with a note the next agent reads beside the whole history."""
    async with desk_errors():
        return await desk.transfer(handoff_id, agent, body.to_agent_id, body.note)


@router.post(
    "/{handoff_id}/return", response_model=HandoffSummaryPublic, responses=refusals(404, 409)
)
async def return_to_bot(
    handoff_id: HandoffId, agent: CurrentAgent, desk: DeskDep
) -> HandoffSummaryPublic:
    async with desk_errors():
        return await desk.give_back(handoff_id, agent)


@agent_router.get("/kb/search", response_model=KbSearchPublic)
def search_for_agent(
    agent: CurrentAgent,
    retriever: RetrieverDep,
    session: SessionDep,
    q: Annotated[str, Query(min_length=1, max_length=1000)],
) -> KbSearchPublic:
    """The knowledge base for an agent who wants to send a customer an article link."""
    return KbSearchPublic.from_result(retriever.search(q, k=5), ArticleStore(session))


async def _forward(
    websocket: WebSocket,
    hub: ConversationHub,
    channel: str,
    received: Callable[[str], Awaitable[None]] | None = None,
) -> None:
    """Push every frame of a channel to the socket until it closes; what the console sends
    goes to ``received``."""
    with hub.subscribe(channel, agent=True) as subscription:
        await websocket.send_json({"type": "ready"})

        async def write() -> None:
            while True:
                await websocket.send_json(await subscription.frames.get())

        async def read() -> None:
            while True:
                raw = await websocket.receive_text()  # this also sees the close
                if received is not None:
                    await received(raw)

        async def lagging() -> None:
            # Frames were lost (too slow, or Redis was away): the console reconnects and
            # fetches again on "ready".
            await subscription.lagging.wait()
            await websocket.close(CLOSE_LAGGING, "too far behind; reconnect to catch up")

        tasks = [asyncio.create_task(job()) for job in (write, read, lagging)]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()


async def _close_unavailable(websocket: WebSocket, what: str, error: Exception) -> None:
    """The database is down: close with 1013; the console reconnects and fetches again."""
    log.warning("database unavailable, %s socket closed: %s", what, type(error).__name__)
    await websocket.close(CLOSE_TRY_AGAIN, SOCKET_UNAVAILABLE)


@agent_router.websocket("/ws")
async def queue_socket(agent: SocketAgent, websocket: WebSocket, desk: DeskDep) -> None:
    """``queue_changed`` whenever a handoff opens, is claimed or closes, or an agent's presence
    changes. An open queue socket is also what keeps an agent live (docs/handoff.md)."""
    try:
        await desk.console_opened(agent)
    except UNAVAILABLE_ERRORS as error:
        await desk.console_closed(agent)  # live only while the socket is open
        await _close_unavailable(websocket, "queue", error)
        return
    try:
        with suppress(WebSocketDisconnect):
            await _forward(websocket, desk.hub, AGENTS_CHANNEL)
    finally:
        await desk.console_closed(agent)


@router.websocket("/{handoff_id}/ws")
async def handoff_socket(
    agent: SocketAgent, websocket: WebSocket, handoff_id: HandoffId, desk: DeskDep
) -> None:
    """Every new message of the handoff's conversation, as the widget gets them."""
    try:
        handoff = await desk.detail(handoff_id, agent)
    except (HandoffNotFoundError, HandoffForbiddenError) as error:
        await websocket.close(CLOSE_FORBIDDEN, str(error))
        return
    except UNAVAILABLE_ERRORS as error:
        await _close_unavailable(websocket, "handoff", error)
        return

    async def typing(raw: str) -> None:
        """The console's typing frames, to the customer while this agent holds the handoff."""
        try:
            frame = TypingFrame.model_validate_json(raw)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "frame"
            await websocket.send_json({"type": "error", "detail": f"{where}: {first['msg']}"})
            return
        try:
            await desk.typing(handoff_id, agent, frame.active)
        except (HandoffNotFoundError, HandoffConflictError, HandoffForbiddenError) as error:
            await websocket.send_json({"type": "error", "detail": str(error)})
        except UNAVAILABLE_ERRORS as error:
            await _close_unavailable(websocket, "typing", error)

    with suppress(WebSocketDisconnect):
        await _forward(websocket, desk.hub, handoff.conversation_id, typing)


__all__ = ["agent_router", "router"]
