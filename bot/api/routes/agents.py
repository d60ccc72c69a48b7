"""The team (who may take a chat, for a transfer) and the agent's own presence: online, away
or offline (docs/handoff.md#presence-and-routing)."""

from __future__ import annotations

from fastapi import APIRouter

from bot.api.deps import CurrentAgent, DeskDep
from bot.api.schemas.errors import refusals
from bot.handoff.schemas import PresencePublic, PresenceUpdate, TeamPublic

router = APIRouter(prefix="/agents", tags=["handoffs"], responses=refusals(401, 403))


@router.get("", response_model=TeamPublic)
async def read_team(agent: CurrentAgent, desk: DeskDep) -> TeamPublic:
    """Agents and admins by name, with their presence and how many chats each holds."""
    return await desk.team()


@router.get("/me/presence", response_model=PresencePublic)
async def read_my_presence(agent: CurrentAgent, desk: DeskDep) -> PresencePublic:
    return PresencePublic.of(await desk.presence_of(agent), await desk.agents_online())


@router.put("/me/presence", response_model=PresencePublic)
async def set_my_presence(
    body: PresenceUpdate, agent: CurrentAgent, desk: DeskDep
) -> PresencePublic:
    """Away keeps the agent's chats and stops new ones coming to them; offline too. Without a
    live console the agent counts as offline whatever they set."""
    state = await desk.set_presence(agent, body.status)
    return PresencePublic.of(state, await desk.agents_online())
