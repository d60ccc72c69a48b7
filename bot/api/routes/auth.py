"""Staff login: a session cookie for the consoles (HttpOnly, SameSite=Strict)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status

from bot.api.deps import SESSION_COOKIE, CurrentUser, SessionDep, StateDep
from bot.api.schemas.auth import LoginRequest, UserPublic, UserUpdate
from bot.api.schemas.errors import refusals
from bot.auth.store import SESSION_LIFETIME, UserStore

router = APIRouter(prefix="/auth", tags=["auth"])


# 403: a login from another origin (login CSRF, bot/api/csrf.py).
@router.post("/login", response_model=UserPublic, responses=refusals(401, 403, 429))
def login(
    body: LoginRequest, request: Request, response: Response, session: SessionDep, state: StateDep
) -> UserPublic:
    """The same answer for an unknown email and a wrong password; throttled → 429
    (bot/auth/throttle.py: by account and by address, growing delays, no lockout)."""
    # The peer's address, or the client's as a trusted proxy told uvicorn (KEFU_TRUSTED_PROXIES).
    address = request.client.host if request.client else ""
    attempt = state.login_throttle.admit(body.email, address)
    if attempt.retry_after_s:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many failed logins; try again in {attempt.retry_after_s} s",
            headers={"Retry-After": str(attempt.retry_after_s)},
        )
    store = UserStore(session)
    user = store.authenticate(body.email, body.password)
    if user is None:  # the attempt stays counted as a failure
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong email or password")
    state.login_throttle.succeeded(attempt)
    response.set_cookie(
        SESSION_COOKIE,
        store.open_session(user),
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=state.settings.cookie_secure,
    )
    return UserPublic.of(user)


# 403: the session cookie without its CSRF token, or from another origin (bot/api/csrf.py).
@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=refusals(403))
def logout(request: Request, response: Response, session: SessionDep) -> None:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        UserStore(session).close_session(token)
    response.delete_cookie(SESSION_COOKIE)


@router.get("/me", response_model=UserPublic, responses=refusals(401))
def me(user: CurrentUser) -> UserPublic:
    return UserPublic.of(user)


# 403: the session cookie without its CSRF token, or from another origin (bot/api/csrf.py).
@router.patch("/me", response_model=UserPublic, responses=refusals(401, 403))
def update_me(body: UserUpdate, user: CurrentUser, session: SessionDep) -> UserPublic:
    """The user's own settings: the consoles' language ('en', 'zh', or null for the browser's)."""
    updated = UserStore(session).set_language(user.id, body.language)
    if updated is None:  # deactivated since the session was checked
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "log in first")
    return UserPublic.of(updated)
