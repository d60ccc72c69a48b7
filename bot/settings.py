"""The one place that reads the environment: every setting of the service and the CLI."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from retrieval.encoders import AUTO

# The project's folder (Kefu runs from its checkout): var/ is anchored here, not in the working
# directory, so a command run from elsewhere finds the same databases and index.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
_DEFAULT_SECRET = "change-me-in-production"
# A production secret: at least this long, and not a short pattern repeated (OWASP ASVS 2:
# 128 bits or more; token_urlsafe(32) gives 43 characters, about 256 bits).
MIN_SECRET_CHARS = 32
MIN_DISTINCT_CHARS = 12


def strong_secret(value: str) -> bool:
    return len(value) >= MIN_SECRET_CHARS and len(set(value)) >= MIN_DISTINCT_CHARS


DEFAULT_MAIL_PORTS = {"smtp": 25, "smtps": 465, "imap": 143, "imaps": 993}


@dataclass(frozen=True)
class MailServer:
    """A mail server from KEFU_SMTP_URL or KEFU_IMAP_URL. ``security``: tls (from the first
    byte: smtps, imaps), starttls (required), opportunistic (when the server offers it), none
    (plain, loopback or tests). The password stays out of repr and logs."""

    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None = field(repr=False)
    security: str
    verify_certificate: bool = True
    mailbox: str = "INBOX"  # IMAP only: the folder read

    def __str__(self) -> str:  # for log lines: no credentials
        user = f"{self.username}@" if self.username else ""
        return f"{self.scheme}://{user}{self.host}:{self.port} ({self.security})"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_mail_url(url: str, schemes: tuple[str, ...]) -> MailServer:
    """``smtp[s]://[user[:password]@]host[:port][?starttls=true|false&verify=false]`` or
    ``imap[s]://…[/mailbox]``; ValueError naming what is wrong (never the password).
    ``smtp``/``imap`` use STARTTLS when the server offers it, and require it when a password
    would otherwise cross the network in clear (starttls=false is refused then)."""
    label = f"KEFU_{schemes[0].upper()}_URL"
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ValueError(f"{label}: not a URL with a valid port") from None
    if parts.scheme not in schemes:
        raise ValueError(f"{label}: the scheme must be one of {', '.join(schemes)}")
    if not parts.hostname:
        raise ValueError(f"{label}: no host")
    query = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - {"starttls", "verify"}
    if unknown:
        raise ValueError(f"{label}: unknown option(s) {', '.join(sorted(unknown))}")
    flags = {}
    for name in ("starttls", "verify"):
        if name in query:
            if query[name] not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(f"{label}: {name} must be true or false")
            flags[name] = query[name] in ("true", "1", "yes")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    implicit_tls = parts.scheme.endswith("s")
    if implicit_tls:
        if flags.get("starttls"):
            raise ValueError(f"{label}: {parts.scheme} is TLS from the start; no starttls")
        security = "tls"
    elif "starttls" in flags:
        security = "starttls" if flags["starttls"] else "none"
    else:
        security = "starttls" if password and not _loopback(parts.hostname) else "opportunistic"
    if security == "none" and password and not _loopback(parts.hostname):
        raise ValueError(f"{label}: a password is never sent in clear beyond this machine")
    mailbox = unquote(parts.path.lstrip("/")) or "INBOX"
    return MailServer(
        scheme=parts.scheme,
        host=parts.hostname,
        port=port or DEFAULT_MAIL_PORTS[parts.scheme],
        username=username,
        password=password,
        security=security,
        verify_certificate=flags.get("verify", True),
        mailbox=mailbox,
    )


class Settings(BaseSettings):
    """Environment variables prefixed ``KEFU_`` (``DATABASE_URL`` and ``REDIS_URL`` as is)."""

    # An error names the setting and what is wrong, never the value: it may be a secret (a
    # password in KEFU_SMTP_URL, a weak KEFU_SECRET_KEY).
    model_config = SettingsConfigDict(
        env_prefix="KEFU_",
        env_file=".env",
        extra="ignore",
        populate_by_name=True,
        hide_input_in_errors=True,
    )

    environment: Literal["development", "test", "production"] = "development"
    # The state folder: the SQLite database, the index, and the stack's logs and Rasa tracker.
    var_dir: Path = PROJECT_ROOT / "var"
    # Unset: a SQLite file and the index in var_dir (_anchor_in_var_dir).
    database_url: str = Field(default="", validation_alias="DATABASE_URL")
    redis_url: str | None = Field(default=None, validation_alias="REDIS_URL")
    # PostgreSQL's connection pool per process (db/engine.py): this many kept open, up to
    # max_overflow more under load, and a request waits at most this long for a free one.
    # Every worker has its own: workers x (pool + overflow) must stay under max_connections.
    database_pool_size: int = Field(default=10, ge=1, le=200)
    database_max_overflow: int = Field(default=10, ge=0, le=200)
    database_pool_timeout_s: float = Field(default=10.0, gt=0, le=300)
    index_dir: Path = Path("index")
    encoder: str = AUTO  # or a name of retrieval.encoders.ENCODER_NAMES
    secret_key: str = _DEFAULT_SECRET
    service_token: str = "dev-service-token"
    # Rasa's HTTP API (`rasa run --auth-token`: trackers, /status, /model); unset, derived from
    # the service token, so one secret configures a deployment (and this one does not reveal it).
    rasa_token: str = ""
    # One Rasa, or several over one tracker store, comma-separated (rasa_urls): the gateway spreads
    # the conversations over them and moves one to the next while its own is down.
    rasa_url: str = "http://127.0.0.1:5005"
    action_server_url: str = "http://127.0.0.1:5055"
    # Every this many seconds, messages the bot still owes an answer (a crash, Rasa down) are
    # sent again; 0 turns it off.
    redeliver_every_s: float = 5.0
    # Every this many seconds, the service checks whether another process (kefu kb import,
    # another worker) changed articles and brings its search index up to date; 0 turns it off.
    index_sync_every_s: float = Field(default=1.0, ge=0)
    # Health probes of Rasa and the action server (bot/api/probes.py): a probe waits this long,
    # its result serves every health check for this long, and a dependency that was up is down
    # after this many probes in a row without an answer (a busy Rasa is slow, not down).
    health_probe_timeout_s: float = Field(default=5.0, gt=0)
    health_probe_cache_s: float = Field(default=5.0, ge=0)
    health_slow_probes_to_down: int = Field(default=3, ge=1)
    # Pages allowed to embed the widget (CORS); "*" for any, as a public chat widget is.
    widget_origins: list[str] = ["*"]
    # Request bodies (bot/api/limits.py): the import, the article routes and the actions' API,
    # everything else; refused with 413 before they are read.
    max_import_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    max_article_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # Reverse proxies (IP addresses or networks) whose X-Forwarded-For and X-Forwarded-Proto
    # are believed; none by default, so a client cannot choose the address it is throttled by.
    trusted_proxies: list[str] = []
    # Login throttling (bot/auth/throttle.py): after failures, waits of 1, 2, 4 … s, up to the
    # first cap; for an account tried from an address failing itself, up to the second.
    login_delay_cap_s: float = Field(default=36.0, ge=1, le=3600)
    login_failing_delay_cap_s: float = Field(default=15 * 60.0, ge=1, le=3600)
    login_free_failures_per_address: int = Field(default=10, ge=1)
    # Origins besides the service's own (scheme, Host header) whose pages may make the consoles'
    # state-changing requests, e.g. the public https://… origin behind a proxy that rewrites Host.
    trusted_origins: list[str] = []
    # Words that send a conversation to a person whatever the bot could answer (any language).
    always_human_topics: list[str] = [
        "chargeback",
        "lawyer",
        "legal action",
        "fraud",
        "律师",
        "起诉",
        "诈骗",
        "投诉到消协",
    ]
    always_human_priority: int = 20  # priority points of such a topic
    first_response_target_s: int = 120  # the agents' SLA: first reply within this many seconds
    # Presence and routing (docs/handoff.md#presence-and-routing): an agent without a live
    # console for this long is offline; each agent's limit of open chats; new handoffs given to
    # the least-busy online agent; a waiting customer who has not written for this long no
    # longer counts in others' queue position.
    presence_timeout_s: float = Field(default=60.0, gt=0)
    agent_max_open_chats: int = Field(default=5, ge=1, le=100)
    auto_assign: bool = False
    queue_live_window_s: float = Field(default=600.0, gt=0)
    # Business hours as JSON ({"timezone", "weekly", "holidays"}, bot/handoff/hours.py); unset:
    # always open. Checked when the service starts (bot.api.state).
    business_hours: dict[str, Any] | None = None
    # The reports' time zone when a request names none (IANA name): days and hours are the
    # manager's, the data stays UTC.
    report_timezone: str = "UTC"
    # An article is flagged "needs review" when (not helpful + handoff after) / offered is above
    # this, once it has been offered at least review_min_offered times.
    review_threshold: float = 0.3
    review_min_offered: int = 5
    # The login cookie is Secure (HTTPS only) when this is true, and always in production.
    secure_cookies: bool = False
    # GET /metrics (docs/operations.md#metrics-and-logs): with a token, for whoever brings it;
    # without, for loopback clients only, never through a proxy. Log lines as text or JSON.
    metrics_token: str = ""
    log_format: Literal["text", "json"] = "text"
    # Email (docs/email.md). Off unless smtp_url is set: smtp://user:pass@host:587?starttls=true
    # (STARTTLS), smtps://user:pass@host:465 (TLS from the start), smtp://127.0.0.1:25 (plain,
    # loopback). The URL holds a password: never in a repr or a log line (mail_server()).
    smtp_url: str | None = Field(default=None, repr=False)
    # The support address mail comes from and replies go to (plus-addressed: support+<token>@…);
    # required with smtp_url or imap_url. The name on that address is the company's.
    mail_from: str | None = None
    company_name: str = "Kefu"
    # Where customers reach the service (links to articles in mail).
    public_url: str = "http://127.0.0.1:8000"
    # An agent's reply goes by mail only if the customer has not seen it in the widget by then.
    mail_reply_grace_s: float = Field(default=60.0, ge=0)
    # The outbox (bot/mail/outbox.py): looked at this often (and at once after a mail is
    # queued); a failed send waits retry_base × 2^(attempts-1), at most an hour, and a mail is
    # given up (status failed) after this many attempts.
    mail_send_every_s: float = Field(default=1.0, gt=0)
    mail_retry_base_s: float = Field(default=30.0, gt=0)
    mail_max_attempts: int = Field(default=10, ge=1, le=100)
    # Inbound mail: imap://user:pass@host:143/INBOX (STARTTLS when offered, required with a
    # password off loopback), imaps://user:pass@host:993/INBOX; polled this often; a larger
    # mail is refused unread.
    imap_url: str | None = Field(default=None, repr=False)
    imap_poll_s: float = Field(default=30.0, gt=0)
    mail_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_addresses(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"KEFU_TRUSTED_PROXIES: {entry!r} is not an IP address or network; trusting "
                    "anything else (such as *) would let any client choose its address"
                ) from None
        return value

    @field_validator("report_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"KEFU_REPORT_TIMEZONE: unknown time zone {value!r}") from None
        return value

    @field_validator("smtp_url", "imap_url")
    @classmethod
    def _mail_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            return None
        schemes = ("smtp", "smtps") if info.field_name == "smtp_url" else ("imap", "imaps")
        parse_mail_url(value, schemes)  # the error names the part, never the password
        return value

    @field_validator("mail_from")
    @classmethod
    def _support_address(cls, value: str | None) -> str | None:
        if not value:
            return None
        # A test deployment's support@shop.test is allowed here (not in a customer's address).
        try:
            found = validate_email(value.strip(), check_deliverability=False, test_environment=True)
        except EmailNotValidError as error:
            raise ValueError(f"KEFU_MAIL_FROM: {error}") from None
        if "+" in found.local_part:
            raise ValueError("KEFU_MAIL_FROM: no '+' in the support address (replies use +<token>)")
        return found.normalized

    @model_validator(mode="after")
    def _mail_needs_an_address(self) -> Settings:
        if (self.smtp_url or self.imap_url) and not self.mail_from:
            raise ValueError(
                "KEFU_MAIL_FROM (the support address) is required with KEFU_SMTP_URL or "
                "KEFU_IMAP_URL"
            )
        return self

    def smtp_server(self) -> MailServer | None:
        """The outgoing mail server; None when email is off."""
        return parse_mail_url(self.smtp_url, ("smtp", "smtps")) if self.smtp_url else None

    def imap_server(self) -> MailServer | None:
        """The mailbox inbound mail is read from; None when inbound email is off."""
        return parse_mail_url(self.imap_url, ("imap", "imaps")) if self.imap_url else None

    @property
    def rasa_urls(self) -> list[str]:
        return [url.strip() for url in self.rasa_url.split(",") if url.strip()]

    @property
    def cookie_secure(self) -> bool:
        return self.secure_cookies or self.environment == "production"

    @model_validator(mode="after")
    def _anchor_in_var_dir(self) -> Settings:
        self.var_dir = self.var_dir.resolve()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.var_dir / 'kefu.db'}"
        if "index_dir" not in self.model_fields_set:
            self.index_dir = self.var_dir / "index"
        return self

    @model_validator(mode="after")
    def _derive_rasa_token(self) -> Settings:
        if not self.rasa_token:
            key, purpose = self.service_token.encode(), b"kefu: rasa http api"
            digest = hmac.new(key, purpose, hashlib.sha256).digest()
            self.rasa_token = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        elif self.environment == "production" and not strong_secret(self.rasa_token):
            raise ValueError(
                f"KEFU_RASA_TOKEN is too weak for production: use at least {MIN_SECRET_CHARS} "
                "random characters, or leave it unset to derive it from KEFU_SERVICE_TOKEN"
            )
        return self

    @model_validator(mode="after")
    def _refuse_weak_secrets(self) -> Settings:
        if self.environment != "production":
            return self
        if _DEFAULT_SECRET in (self.secret_key,):
            raise ValueError("KEFU_SECRET_KEY must be set in production")
        if self.service_token == "dev-service-token":
            raise ValueError("KEFU_SERVICE_TOKEN must be set in production")
        for name, value in (
            ("KEFU_SECRET_KEY", self.secret_key),
            ("KEFU_SERVICE_TOKEN", self.service_token),
        ):
            if not strong_secret(value):
                raise ValueError(
                    f"{name} is too weak for production: use at least {MIN_SECRET_CHARS} "
                    "random characters, e.g. python -c 'import secrets; "
                    "print(secrets.token_urlsafe(32))'"
                )
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
