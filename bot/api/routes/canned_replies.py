"""Canned replies: an agent's own and the team's shared ones, and one filled in for a
handoff (docs/handoff.md#canned-replies)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response, status

from bot.api.deps import CurrentAgent, SessionDep
from bot.api.schemas.errors import refusals
from bot.handoff.canned import (
    CannedReplies,
    CannedRepliesPublic,
    CannedReplyConflictError,
    CannedReplyCreate,
    CannedReplyForbiddenError,
    CannedReplyInvalidError,
    CannedReplyNotFoundError,
    CannedReplyPublic,
    CannedReplyUpdate,
    RenderedReplyPublic,
    ReplyLanguage,
)
from bot.handoff.errors import HandoffForbiddenError, HandoffNotFoundError
from db.base import MAX_ROW_ID

ReplyId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
HandoffId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]

router = APIRouter(prefix="/canned-replies", tags=["canned-replies"], responses=refusals(401, 403))
handoff_router = APIRouter(
    prefix="/handoffs", tags=["canned-replies"], responses=refusals(401, 403)
)


@contextmanager
def canned_errors() -> Iterator[None]:
    """The store's refusals as HTTP answers."""
    try:
        yield
    except (CannedReplyNotFoundError, HandoffNotFoundError) as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from error
    except (CannedReplyForbiddenError, HandoffForbiddenError) as error:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(error)) from error
    except CannedReplyConflictError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from error
    except CannedReplyInvalidError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from error


@router.get("", response_model=CannedRepliesPublic)
def read_canned_replies(
    agent: CurrentAgent,
    session: SessionDep,
    language: ReplyLanguage | None = None,
    q: Annotated[str | None, Query(max_length=120)] = None,
) -> CannedRepliesPublic:
    """The caller's own replies and the shared ones; ``q`` starts the shortcut or the title."""
    rows = CannedReplies(session).visible(agent, language, q)
    return CannedRepliesPublic(data=rows, count=len(rows))


@router.post(
    "",
    response_model=CannedReplyPublic,
    status_code=status.HTTP_201_CREATED,
    responses=refusals(409, 422),
)
def create_canned_reply(
    body: CannedReplyCreate, agent: CurrentAgent, session: SessionDep
) -> CannedReplyPublic:
    """A personal reply; ``shared`` makes it the team's (admins only)."""
    with canned_errors():
        return CannedReplies(session).create(body, agent)


@router.patch("/{reply_id}", response_model=CannedReplyPublic, responses=refusals(404, 409, 422))
def update_canned_reply(
    reply_id: ReplyId, body: CannedReplyUpdate, agent: CurrentAgent, session: SessionDep
) -> CannedReplyPublic:
    with canned_errors():
        return CannedReplies(session).update(reply_id, body, agent)


@router.delete("/{reply_id}", status_code=status.HTTP_204_NO_CONTENT, responses=refusals(404))
def delete_canned_reply(reply_id: ReplyId, agent: CurrentAgent, session: SessionDep) -> Response:
    with canned_errors():
        CannedReplies(session).delete(reply_id, agent)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@handoff_router.post(
    "/{handoff_id}/canned-replies/{reply_id}/render",
    response_model=RenderedReplyPublic,
    responses=refusals(404),
)
def render_canned_reply(
    handoff_id: HandoffId, reply_id: ReplyId, agent: CurrentAgent, session: SessionDep
) -> RenderedReplyPublic:
    """The reply filled in for a handoff the caller holds: the customer's and the agent's
    names, and the articles it names as text and as links to attach."""
    with canned_errors():
        return CannedReplies(session).render_for(reply_id, handoff_id, agent)


__all__ = ["handoff_router", "router"]
