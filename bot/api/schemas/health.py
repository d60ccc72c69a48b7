"""The service's readiness and that of each dependency."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class ComponentHealth(BaseModel):
    status: Literal["ok", "down"]
    detail: str = ""


class HealthPublic(BaseModel):
    status: Literal["ok", "degraded"]
    database: ComponentHealth
    index: ComponentHealth
    rasa: ComponentHealth
    action_server: ComponentHealth
    # Only with REDIS_URL set: the state the service workers share (docs/scaling.md#redis).
    redis: ComponentHealth | None = None
