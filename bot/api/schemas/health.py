"""The service's readiness and that of each dependency."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ComponentHealth(BaseModel):
    """``failing``: it answers, but this worker's use of it is broken (Redis: the hub's
    listener is not running, so other workers' frames do not arrive)."""

    status: Literal["ok", "down", "failing"]
    detail: str = ""


class EmailHealth(BaseModel):
    """Mail both ways (docs/email.md): off (not configured), ok, or failing (the last attempt
    to reach the server failed; ``*_detail`` says why). Failing mail degrades nothing else:
    the outbox keeps it and retries."""

    outbound: Literal["off", "ok", "failing"] = "off"
    outbound_detail: str = ""
    inbound: Literal["off", "ok", "failing"] = "off"
    inbound_detail: str = ""


class HealthPublic(BaseModel):
    status: Literal["ok", "degraded"]
    database: ComponentHealth
    index: ComponentHealth
    rasa: ComponentHealth
    action_server: ComponentHealth
    # Only with REDIS_URL set: the state the service workers share (docs/scaling.md#redis).
    redis: ComponentHealth | None = None
    email: EmailHealth = Field(default_factory=EmailHealth)
