"""Cross-site request forgery defence for the consoles' cookie sessions (OWASP ASVS 4.0.3 4.2.2
and 13.2.3). SameSite=Strict does not stop a page on another port of the same host, so:

- a state-changing request (any method but GET, HEAD, OPTIONS, TRACE) that carries the session
  cookie needs an ``Origin`` that is the service's own (scheme, host and port of the request) or
  a trusted one, or, absent ``Origin``, ``Sec-Fetch-Site: same-origin``; and an ``X-CSRF-Token``
  equal to HMAC(secret key, session token), which the consoles read from the ``kefu_csrf``
  cookie (signed double submit: a cookie planted by another site cannot match the session);
- login uses no session, it opens one: only its origin is checked (login CSRF), and a client
  that sends neither header (no browser) may log in;
- a WebSocket that carries the session cookie needs a trusted ``Origin``, else it is refused
  before it is accepted (close code 1008; a browser sees the upgrade answered with 403).

Requests without the session cookie (bearer tokens, the service token) are not checked. The
widget's API, called from other origins with conversation tokens, never sees cookies at all.
"""

from __future__ import annotations

import hashlib
import hmac
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocketClose

from bot.api.deps import SESSION_COOKIE
from bot.auth.store import SESSION_LIFETIME
from bot.settings import Settings

CSRF_COOKIE = "kefu_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
LOGIN_PATH = "/api/v1/auth/login"
WIDGET_PREFIX = "/api/v1/conversations"
INTERNAL_PREFIX = "/api/v1/internal"  # the actions' service-token API: never a browser
COOKIELESS = (WIDGET_PREFIX, INTERNAL_PREFIX)
CLOSE_POLICY_VIOLATION = 1008

Origin = tuple[str, str, int]  # scheme, host, port
_DEFAULT_PORTS = {"http": 80, "https": 443}
_WEB_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}


def csrf_token(secret_key: str, session_token: str) -> str:
    """The CSRF token of one session; the prefix keeps it apart from conversation tokens, which
    are HMACs under the same key."""
    message = b"csrf:" + session_token.encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def parse_origin(value: str) -> Origin | None:
    """``scheme://host[:port]`` with the default port filled in; None for anything else
    (``null``, a path, credentials, a scheme that is not HTTP)."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if (
        scheme not in _DEFAULT_PORTS
        or not parts.hostname
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        return None
    return scheme, parts.hostname, port or _DEFAULT_PORTS[scheme]


def own_origin(scope: Scope) -> Origin | None:
    """The origin the client addressed: the request's scheme and its ``Host`` header."""
    host = Headers(scope=scope).get("host")
    scheme = _WEB_SCHEMES.get(scope.get("scheme", "http"))
    if not host or scheme is None:
        return None
    return parse_origin(f"{scheme}://{host}")


class CsrfProtection:
    """The ASGI middleware of the rules above."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.secret_key = settings.secret_key
        self.secure_cookie = settings.cookie_secure
        self.trusted_origins: set[Origin] = set()
        for value in settings.trusted_origins:
            origin = parse_origin(value)
            if origin is None:
                raise ValueError(f"KEFU_TRUSTED_ORIGINS: {value!r} is not scheme://host[:port]")
            self.trusted_origins.add(origin)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if any(path == prefix or path.startswith(prefix + "/") for prefix in COOKIELESS):
            # Fail closed: a staff cookie can never authenticate anything the widget or the
            # actions call.
            cookieless = [(name, value) for name, value in scope["headers"] if name != b"cookie"]
            await self.app({**scope, "headers": cookieless}, receive, send)
            return
        headers = Headers(scope=scope)
        cookies = cookie_parser(headers.get("cookie", ""))
        session = cookies.get(SESSION_COOKIE) or None
        if scope["type"] == "websocket":
            if session is not None and not self._trusted(headers.get("origin"), scope):
                reason = "a console's socket must come from the console's own origin"
                await WebSocketClose(CLOSE_POLICY_VIOLATION, reason)(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        if scope["method"] not in SAFE_METHODS and (session is not None or path == LOGIN_PATH):
            refusal = self._refusal(scope, headers, None if path == LOGIN_PATH else session)
            if refusal is not None:
                await JSONResponse({"detail": refusal}, status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, self._keeping_token_cookie(send, session, cookies))

    def _trusted(self, origin: str | None, scope: Scope) -> bool:
        if origin is None:
            return False
        parsed = parse_origin(origin)
        return parsed is not None and (
            parsed == own_origin(scope) or parsed in self.trusted_origins
        )

    def _refusal(self, scope: Scope, headers: Headers, session: str | None) -> str | None:
        """Why a state-changing request is refused, or None; ``session`` is the session token it
        acts with (None for login)."""
        origin = headers.get("origin")
        fetch_site = headers.get("sec-fetch-site")
        if origin is not None:
            if not self._trusted(origin, scope):
                return f"cross-site request refused: origin {origin[:100]!r} is not trusted"
        elif fetch_site is not None:
            if fetch_site != "same-origin":
                return f"cross-site request refused: Sec-Fetch-Site is {fetch_site[:20]!r}"
        elif session is not None:
            return "cross-site request refused: a request with the session cookie needs an Origin"
        if session is None:
            return None
        given = headers.get(CSRF_HEADER, "").encode("latin-1")
        if not hmac.compare_digest(given, csrf_token(self.secret_key, session).encode()):
            return f"missing or wrong {CSRF_HEADER} header: send the {CSRF_COOKIE} cookie's value"
        return None

    def _keeping_token_cookie(
        self, send: Send, session: str | None, cookies: dict[str, str]
    ) -> Send:
        """The ``kefu_csrf`` cookie follows the session cookie: set with it at login, deleted with
        it at logout, and set again for a session whose browser lacks it (or holds a stale one)."""

        async def with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                issued = _issued_session(headers.getlist("set-cookie"))
                if issued is not None:
                    new_session, max_age = issued
                    token = csrf_token(self.secret_key, new_session) if new_session else ""
                    headers.append("Set-Cookie", self._token_cookie(token, max_age))
                elif session is not None:
                    token = csrf_token(self.secret_key, session)
                    if cookies.get(CSRF_COOKIE) != token:
                        max_age = int(SESSION_LIFETIME.total_seconds())
                        headers.append("Set-Cookie", self._token_cookie(token, max_age))
            await send(message)

        return with_cookie

    def _token_cookie(self, token: str, max_age: int | None) -> str:
        """Readable by the consoles' script (not HttpOnly), sent by no other site's request; an
        empty token deletes it."""
        if not token:
            max_age = 0
        lifetime = "" if max_age is None else f"; Max-Age={max_age}"
        secure = "; Secure" if self.secure_cookie else ""
        return f"{CSRF_COOKIE}={token}{lifetime}; Path=/; SameSite=Strict{secure}"


def _issued_session(set_cookies: list[str]) -> tuple[str, int | None] | None:
    """The session cookie a response sets, as (token, max age); an empty token when it deletes
    it."""
    for header in set_cookies:
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(header)
        except CookieError:
            continue
        morsel = cookie.get(SESSION_COOKIE)
        if morsel is not None:
            max_age = str(morsel["max-age"])
            return morsel.value, int(max_age) if max_age.isdigit() else None
    return None
