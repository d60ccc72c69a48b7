"""Shared request dependencies; authorisation lives here, never in handlers."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from bot.api.state import ServiceState
from retrieval.retriever import Retriever

_bearer = HTTPBearer(auto_error=False)


def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.kefu
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    with state.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_retriever(state: StateDep) -> Retriever:
    return state.retriever


RetrieverDep = Annotated[Retriever, Depends(get_retriever)]


def require_service_token(
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """The internal API is for Kefu's own processes (the Rasa action server)."""
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing service token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    # Constant-time comparison: the token must not be guessable byte by byte.
    if not secrets.compare_digest(credentials.credentials, state.settings.service_token):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid service token")


ServiceTokenDep = Depends(require_service_token)
