"""The agents' API: the queue, a handoff with its packet, claim, reply, notes, resolve,
return to the bot, and live updates over WebSockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, WebSocket, WebSocketDisconnect, status
from pydantic import BaseModel, StringConstraints

from bot.api.deps import SESSION_COOKIE, CurrentAgent, DeskDep, RetrieverDep, SessionDep, StateDep
from bot.api.routes.internal_kb import KbSearchPublic
from bot.auth.store import StaffUser, UserStore
from bot.conversations.hub import ConversationHub
from bot.conversations.schemas import MessagePublic
from bot.handoff.desk import (
    AGENTS_CHANNEL,
    HandoffConflictError,
    HandoffDesk,
    HandoffForbiddenError,
    HandoffNotFoundError,
)
from kb.store import ArticleStore

router = APIRouter(prefix="/handoffs", tags=["handoffs"])
agent_router = APIRouter(prefix="/agent", tags=["handoffs"])

CLOSE_NOT_LOGGED_IN = 4401
CLOSE_FORBIDDEN = 4403

AgentText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
QueueFilter = Literal["open", "waiting", "assigned", "resolved", "returned"]


class AgentMessageCreate(BaseModel):
    text: AgentText


class NoteCreate(BaseModel):
    text: AgentText


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


@router.get("")
async def read_queue(
    agent: CurrentAgent,
    desk: DeskDep,
    state: StateDep,
    status_: Annotated[QueueFilter, Query(alias="status")] = "open",
) -> dict[str, Any]:
    """Handoffs by priority, then waiting time; claimed ones only for their holder."""
    statuses = ("waiting", "assigned") if status_ == "open" else (status_,)
    rows = [
        row
        for row in await desk.queue(statuses)
        if row["status"] == "waiting" or row["agent_id"] == agent.id or agent.role == "admin"
    ]
    return {
        "data": rows,
        "count": len(rows),
        "first_response_target_s": state.settings.first_response_target_s,
        "agents_online": desk.agents_online(),
    }


@router.get("/{handoff_id}")
async def read_handoff(handoff_id: int, agent: CurrentAgent, desk: DeskDep) -> dict[str, Any]:
    async with desk_errors():
        return await desk.detail(handoff_id, agent)


@router.post("/{handoff_id}/claim")
async def claim_handoff(handoff_id: int, agent: CurrentAgent, desk: DeskDep) -> dict[str, Any]:
    async with desk_errors():
        return await desk.claim(handoff_id, agent)


@router.post("/{handoff_id}/messages", status_code=status.HTTP_201_CREATED)
async def reply_to_customer(
    handoff_id: int, body: AgentMessageCreate, agent: CurrentAgent, desk: DeskDep
) -> MessagePublic:
    async with desk_errors():
        return await desk.reply(handoff_id, agent, body.text)


@router.post("/{handoff_id}/notes", status_code=status.HTTP_201_CREATED)
async def add_note(
    handoff_id: int, body: NoteCreate, agent: CurrentAgent, desk: DeskDep
) -> dict[str, Any]:
    async with desk_errors():
        return await desk.note(handoff_id, agent, body.text)


@router.post("/{handoff_id}/resolve")
async def resolve_handoff(handoff_id: int, agent: CurrentAgent, desk: DeskDep) -> dict[str, Any]:
    async with desk_errors():
        return await desk.resolve(handoff_id, agent)


@router.post("/{handoff_id}/return")
async def return_to_bot(handoff_id: int, agent: CurrentAgent, desk: DeskDep) -> dict[str, Any]:
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


def _socket_agent(websocket: WebSocket, state: Any) -> StaffUser | None:
    token = websocket.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    with state.sessions() as session:
        return UserStore(session).user_of_session(token)


async def _forward(websocket: WebSocket, hub: ConversationHub, channel: str) -> None:
    """Push every frame of a channel to the socket until it closes."""
    with hub.subscribe(channel) as subscription:
        await websocket.send_json({"type": "ready"})

        async def write() -> None:
            while True:
                await websocket.send_json(await subscription.frames.get())

        async def read() -> None:
            while True:
                await websocket.receive_text()  # the console only listens; this sees the close

        tasks = [asyncio.create_task(job()) for job in (write, read)]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()


@agent_router.websocket("/ws")
async def queue_socket(websocket: WebSocket, state: StateDep, desk: DeskDep) -> None:
    """``queue_changed`` whenever a handoff opens, is claimed or closes. An open queue socket
    is also what makes an agent count as online."""
    await websocket.accept()
    agent = _socket_agent(websocket, state)
    if agent is None:
        await websocket.close(CLOSE_NOT_LOGGED_IN, "log in first")
        return
    if not agent.has_role("agent"):
        await websocket.close(CLOSE_FORBIDDEN, "this needs the agent role")
        return
    with suppress(WebSocketDisconnect):
        await _forward(websocket, desk.hub, AGENTS_CHANNEL)


@router.websocket("/{handoff_id}/ws")
async def handoff_socket(
    websocket: WebSocket, handoff_id: int, state: StateDep, desk: DeskDep
) -> None:
    """Every new message of the handoff's conversation, as the widget gets them."""
    await websocket.accept()
    agent = _socket_agent(websocket, state)
    if agent is None:
        await websocket.close(CLOSE_NOT_LOGGED_IN, "log in first")
        return
    if not agent.has_role("agent"):
        await websocket.close(CLOSE_FORBIDDEN, "this needs the agent role")
        return
    try:
        handoff = await desk.detail(handoff_id, agent)
    except (HandoffNotFoundError, HandoffForbiddenError) as error:
        await websocket.close(CLOSE_FORBIDDEN, str(error))
        return
    with suppress(WebSocketDisconnect):
        await _forward(websocket, desk.hub, handoff["conversation_id"])


__all__ = ["HandoffDesk", "agent_router", "router"]
