"""Shared request dependencies; authorisation lives here, never in handlers."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import (
    Depends,
    HTTPException,
    Path,
    Query,
    Request,
    WebSocket,
    WebSocketException,
    status,
)
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from bot.api.state import ServiceState
from bot.auth.store import StaffUser, UserStore
from bot.chat.gateway import ChatGateway
from bot.handoff.desk import HandoffDesk
from db.engine import UNAVAILABLE_ERRORS
from kb.schemas import SLUG_PATTERN, ArticleSnapshot
from kb.store import ArticleStore
from retrieval.retriever import Retriever

log = logging.getLogger(__name__)

SESSION_COOKIE = "kefu_session"

# One security scheme per credential, so the OpenAPI document says which route takes which.
_service_bearer = HTTPBearer(
    scheme_name="ServiceToken",
    description="KEFU_SERVICE_TOKEN: the internal API is for Kefu's own processes (the actions)",
    auto_error=False,
)
_conversation_bearer = HTTPBearer(
    scheme_name="ConversationToken",
    description="The token POST /api/v1/conversations returned, for that conversation only",
    auto_error=False,
)
_staff_bearer = HTTPBearer(
    scheme_name="StaffSession",
    description="A staff session token (the kefu_session cookie's value) as a bearer token",
    auto_error=False,
)
_metrics_bearer = HTTPBearer(
    scheme_name="MetricsToken",
    description="KEFU_METRICS_TOKEN, for GET /metrics from anywhere; unset, loopback clients only",
    auto_error=False,
)
_staff_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    scheme_name="StaffSessionCookie",
    description=(
        "The consoles' session cookie, set by POST /api/v1/auth/login; a state-changing request "
        "with it needs its Origin and the X-CSRF-Token header (docs/security.md)"
    ),
    auto_error=False,
)


# A dependency that only reads memory is a coroutine: FastAPI runs a plain ``def`` dependency in
# its thread pool, one hop for each dependency of each request (docs/benchmarks.md#chat). Those
# that read the database stay plain functions and keep their thread.
async def get_state(connection: HTTPConnection) -> ServiceState:
    """For HTTP requests and WebSockets alike."""
    state: ServiceState = connection.app.state.kefu
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    with state.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


async def get_retriever(state: StateDep) -> Retriever:
    return state.retriever


RetrieverDep = Annotated[Retriever, Depends(get_retriever)]


async def require_service_token(
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_service_bearer)],
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


# Headers a proxy adds: a request carrying one came through a proxy, whatever its peer address.
FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def is_local_client(connection: HTTPConnection, trusted_proxies: list[str]) -> bool:
    """A client on this machine talking to the service directly: a loopback peer, not a
    trusted proxy (a proxy on loopback relays the world) and with no proxy's headers."""
    host = connection.client.host if connection.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if not address.is_loopback:
        return False
    if any(address in ipaddress.ip_network(proxy, strict=False) for proxy in trusted_proxies):
        return False
    return not any(header in connection.headers for header in FORWARDING_HEADERS)


async def require_metrics_access(
    request: Request,
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_metrics_bearer)],
) -> None:
    """``KEFU_METRICS_TOKEN`` when it is set, from anywhere; unset, loopback clients only."""
    token = state.settings.metrics_token
    if not token:
        if not is_local_client(request, state.settings.trusted_proxies):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                "metrics are for clients on this machine; set KEFU_METRICS_TOKEN to scrape "
                "from elsewhere",
            )
        return
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing metrics token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not secrets.compare_digest(credentials.credentials.encode(), token.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid metrics token")


MetricsAccessDep = Depends(require_metrics_access)


def conversation_token(secret_key: str, conversation_id: str) -> str:
    """A token bound to one conversation: only its holder may read or write it."""
    return hmac.new(secret_key.encode(), conversation_id.encode(), hashlib.sha256).hexdigest()


async def require_conversation_token(
    conversation_id: str,
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_conversation_bearer)],
) -> str:
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing conversation token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    expected = conversation_token(state.settings.secret_key, conversation_id)
    if not secrets.compare_digest(credentials.credentials, expected):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this token is not for this conversation")
    return conversation_id


ConversationIdDep = Annotated[str, Depends(require_conversation_token)]

# WebSocket close codes (4000-4999 are the application's): the HTTP status they stand for.
CLOSE_NOT_LOGGED_IN = 4401
CLOSE_FORBIDDEN = 4403
# The database is down (docs/scaling.md): the widget and the consoles reconnect with backoff;
# a customer's message not stored is sent again (the same client_message_id: never doubled).
CLOSE_TRY_AGAIN = 1013
SOCKET_UNAVAILABLE = "the database is unavailable; reconnect shortly"


async def require_socket_conversation_token(
    websocket: WebSocket,
    conversation_id: str,
    state: StateDep,
    token: Annotated[str | None, Query(max_length=128)] = None,
) -> str:
    """The conversation token of a widget's socket. Browsers cannot set headers on a
    WebSocket, so it comes as ``?token=``. The socket is accepted first, so that a refusal
    arrives as a close code the widget can read."""
    await websocket.accept()
    if not token:
        raise WebSocketException(CLOSE_NOT_LOGGED_IN, "missing conversation token")
    expected = conversation_token(state.settings.secret_key, conversation_id)
    if not secrets.compare_digest(token, expected):
        raise WebSocketException(CLOSE_FORBIDDEN, "this token is not for this conversation")
    return conversation_id


SocketConversationIdDep = Annotated[str, Depends(require_socket_conversation_token)]


async def get_gateway(state: StateDep) -> ChatGateway:
    return state.gateway


GatewayDep = Annotated[ChatGateway, Depends(get_gateway)]


def get_published_article(
    session: SessionDep, article_id: Annotated[str, Path(pattern=SLUG_PATTERN)]
) -> ArticleSnapshot:
    """The article of the path, if published; drafts and archived ones do not exist publicly."""
    article = ArticleStore(session).get(article_id)
    if article is None or article.status != "published":
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"article {article_id!r} not found")
    return article


PublishedArticleDep = Annotated[ArticleSnapshot, Depends(get_published_article)]


def get_current_user(
    state: StateDep,
    cookie: Annotated[str | None, Depends(_staff_cookie)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_staff_bearer)],
) -> StaffUser:
    """The logged-in member of staff, from the session cookie (consoles) or a bearer token."""
    token = cookie or (credentials.credentials if credentials is not None else None)
    user = None
    if token:
        with state.sessions() as session:
            user = UserStore(session).user_of_session(token)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "log in first")
    return user


CurrentUser = Annotated[StaffUser, Depends(get_current_user)]


def require_role(*roles: str) -> Callable[[StaffUser], StaffUser]:
    def check(user: CurrentUser) -> StaffUser:
        if not user.has_role(*roles):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"this needs the {' or '.join(roles)} role"
            )
        return user

    return check


CurrentAgent = Annotated[StaffUser, Depends(require_role("agent"))]


async def require_socket_agent(websocket: WebSocket, state: StateDep) -> StaffUser:
    """The agent behind a console's socket, from the session cookie; accepted first, so a
    refusal arrives as a close code (4401 not logged in, 4403 not an agent)."""
    await websocket.accept()
    token = websocket.cookies.get(SESSION_COOKIE)
    user = None
    if token:
        try:
            with state.sessions() as session:
                user = UserStore(session).user_of_session(token)
        except UNAVAILABLE_ERRORS as error:
            log.warning("database unavailable, agent socket closed: %s", type(error).__name__)
            raise WebSocketException(CLOSE_TRY_AGAIN, SOCKET_UNAVAILABLE) from error
    if user is None:
        raise WebSocketException(CLOSE_NOT_LOGGED_IN, "log in first")
    if not user.has_role("agent"):
        raise WebSocketException(CLOSE_FORBIDDEN, "this needs the agent role")
    return user


SocketAgent = Annotated[StaffUser, Depends(require_socket_agent)]
CurrentEditor = Annotated[StaffUser, Depends(require_role("editor"))]
# Reads the reports and every conversation; edits nothing, takes no chat.
CurrentSupervisor = Annotated[StaffUser, Depends(require_role("supervisor"))]


async def get_desk(state: StateDep) -> HandoffDesk:
    return state.desk


DeskDep = Annotated[HandoffDesk, Depends(get_desk)]
