"""Escalations from the bot (action_handoff), behind the service token."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from bot.api.deps import DeskDep, ServiceTokenDep
from bot.api.schemas.errors import refusals
from bot.conversations.store import ConversationNotFoundError
from bot.handoff.schemas import HandoffCreate, HandoffOpenedPublic

router = APIRouter(
    prefix="/internal/handoffs",
    tags=["internal"],
    dependencies=[ServiceTokenDep],
    responses=refusals(401, 403, 404),
)


@router.post("", response_model=HandoffOpenedPublic, status_code=status.HTTP_201_CREATED)
async def open_handoff(body: HandoffCreate, desk: DeskDep) -> HandoffOpenedPublic:
    """Open (or return the open) handoff of a conversation; says whether an agent is online."""
    try:
        return await desk.open(body)
    except ConversationNotFoundError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from error
