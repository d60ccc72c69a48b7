"""The one place that reads the environment: every setting of the service and the CLI."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
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


class Settings(BaseSettings):
    """Environment variables prefixed ``KEFU_`` (``DATABASE_URL`` and ``REDIS_URL`` as is)."""

    model_config = SettingsConfigDict(
        env_prefix="KEFU_", env_file=".env", extra="ignore", populate_by_name=True
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
