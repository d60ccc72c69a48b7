"""What the bot tried in a conversation, written by the actions, behind the service token."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from bot.api.deps import ServiceTokenDep, SessionDep
from bot.api.schemas.errors import refusals
from bot.conversations.schemas import FeedbackCreate, FeedbackPublic, LookupPublic, TrailPublic
from bot.conversations.store import ConversationNotFoundError, ConversationStore
from bot.conversations.trail import BotTrail

router = APIRouter(
    prefix="/internal/conversations",
    tags=["internal"],
    dependencies=[ServiceTokenDep],
    responses=refusals(401, 403, 404),
)


def _not_found(error: ConversationNotFoundError) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, str(error))


@router.post(
    "/{conversation_id}/feedback",
    response_model=FeedbackPublic,
    status_code=status.HTTP_201_CREATED,
)
def record_feedback(
    conversation_id: str, body: FeedbackCreate, session: SessionDep
) -> FeedbackPublic:
    """ "Did this help?" against the article version the customer saw."""
    try:
        feedback = BotTrail(session).record_feedback(
            conversation_id, body.article_id, body.version, body.helpful, body.lookup_id
        )
    except ConversationNotFoundError as error:
        raise _not_found(error) from error
    return FeedbackPublic.model_validate(feedback, from_attributes=True)


@router.get("/{conversation_id}/trail", response_model=TrailPublic)
def read_trail(conversation_id: str, session: SessionDep) -> TrailPublic:
    """The lookups and feedback of a conversation, in order (for the agent who takes over)."""
    trail = BotTrail(session)
    try:
        ConversationStore(session).get(conversation_id)
    except ConversationNotFoundError as error:
        raise _not_found(error) from error
    return TrailPublic(
        lookups=[
            LookupPublic.model_validate(x, from_attributes=True)
            for x in trail.lookups(conversation_id)
        ],
        feedback=[
            FeedbackPublic.model_validate(x, from_attributes=True)
            for x in trail.feedback(conversation_id)
        ],
    )
