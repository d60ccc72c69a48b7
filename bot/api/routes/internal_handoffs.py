"""Escalations from the bot (action_handoff), behind the service token."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, EmailStr, Field, StringConstraints

from bot.api.deps import DeskDep, ServiceTokenDep
from bot.conversations.store import ConversationNotFoundError
from bot.handoff.desk import HandoffRequest

router = APIRouter(prefix="/internal/handoffs", tags=["internal"], dependencies=[ServiceTokenDep])

Reason = Literal["requested", "repeated_failure", "frustration", "topic"]


class IntentSeen(BaseModel):
    text: Annotated[str, StringConstraints(max_length=2000)]
    intent: Annotated[str, StringConstraints(max_length=100)]
    confidence: float = Field(ge=0, le=1)


class HandoffCreate(BaseModel):
    conversation_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    reason: Reason
    language: Literal["zh", "en"] = "en"
    intents: list[IntentSeen] = Field(default_factory=list, max_length=200)
    customer_name: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] | None
    ) = None
    customer_email: EmailStr | None = None


class HandoffOpenedPublic(BaseModel):
    handoff_id: int
    status: str
    agents_online: int
    created: bool


@router.post("", response_model=HandoffOpenedPublic, status_code=status.HTTP_201_CREATED)
async def open_handoff(body: HandoffCreate, desk: DeskDep) -> Any:
    """Open (or return the open) handoff of a conversation; says whether an agent is online."""
    request = HandoffRequest(
        conversation_id=body.conversation_id,
        reason=body.reason,
        language=body.language,
        intents=[i.model_dump() for i in body.intents],
        customer_name=body.customer_name,
        customer_email=str(body.customer_email) if body.customer_email else None,
    )
    try:
        return await desk.open(request)
    except ConversationNotFoundError as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from error
