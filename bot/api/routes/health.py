"""Liveness and readiness of the service and of what it depends on."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Response, status
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bot.api.deps import StateDep
from bot.api.schemas.health import ComponentHealth, EmailHealth, HealthPublic
from bot.api.state import ServiceState
from bot.conversations.redis_hub import RedisConversationHub
from bot.mail.models import OutboundMail
from bot.shared.redis import masked_redis_url
from db.engine import UNAVAILABLE_ERRORS, in_worker_thread

router = APIRouter(prefix="/health", tags=["health"])
T = TypeVar("T")


@router.get(
    "",
    response_model=HealthPublic,
    responses={503: {"model": HealthPublic, "description": "The database is down"}},
)
async def health(state: StateDep, response: Response) -> HealthPublic:
    """503 when the database is down or does not answer in time; Rasa, the action server or
    Redis down only degrades (slow is not down: docs/operations.md#health; Redis:
    docs/scaling.md#redis)."""
    database = await _database(state)
    retriever = state.retriever
    index = ComponentHealth(
        status="ok",
        detail=f"{len(retriever.article_versions)} articles, {retriever.passage_count} passages, "
        f"encoder {retriever.encoder.name}",
    )
    # Probed together, each at most once per health_probe_cache_s (bot/api/probes.py).
    rasa, actions = await asyncio.gather(
        state.rasa_probe.health(), state.action_server_probe.health()
    )
    if len(state.gateway.rasa.base_urls) > 1:  # which one the messages go to now
        rasa.detail += f"; answering: {state.gateway.rasa.base_url}"
    redis = None
    if state.shared is not None:
        # A blocking PING with a short timeout (bot/shared/redis.py), off the event loop.
        trouble = await asyncio.to_thread(state.shared.ping)
        hub = state.gateway.hub
        if trouble is not None:
            redis = ComponentHealth(status="down", detail=trouble)
        elif isinstance(hub, RedisConversationHub) and not hub.listener_running:
            # Restarted by the hub; meanwhile other workers' frames do not reach this one's.
            redis = ComponentHealth(status="failing", detail="the hub's listener is not running")
        else:
            redis = ComponentHealth(status="ok", detail=masked_redis_url(state.shared.url))
    if database.status != "ok":
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    # One Rasa of several down still answers every customer, but is not everything up.
    everything_up = state.rasa_probe.all_up and all(
        c.status == "ok" for c in (database, rasa, actions, redis) if c is not None
    )
    return HealthPublic(
        status="ok" if everything_up else "degraded",
        database=database,
        index=index,
        rasa=rasa,
        action_server=actions,
        redis=redis,
        email=await _email(state, database_up=database.status == "ok"),
    )


async def _database(state: ServiceState) -> ComponentHealth:
    """``SELECT 1`` in a worker thread, awaited at most ``health_probe_timeout_s``: a database
    that does not answer (behind a network partition, a connection waits up to its connect
    timeout, a pooled one longer) costs the health check that long, never the event loop's
    other sockets. One check at a time: while one is stuck, the next ones wait for it instead
    of taking another thread."""
    check = state.database_check = _one_at_a_time(
        state.database_check, lambda: in_worker_thread(state.sessions, _select_one)
    )
    timeout = state.settings.health_probe_timeout_s
    try:
        await asyncio.wait_for(asyncio.shield(check), timeout)
    except TimeoutError:
        return ComponentHealth(status="down", detail=f"no answer within {timeout:g} s")
    except Exception as error:  # any database failure makes the service not ready
        return ComponentHealth(status="down", detail=type(error).__name__)
    return ComponentHealth(status="ok")


def _select_one(session: Session) -> None:
    session.execute(text("SELECT 1"))


def _one_at_a_time(
    check: asyncio.Future[T] | None, start: Callable[[], Awaitable[T]]
) -> asyncio.Future[T]:
    """The check under way, else a new one: while one is stuck on the database, the next
    requests wait for it rather than each taking another worker thread."""
    if check is None or check.done():
        check = asyncio.ensure_future(start())
        check.add_done_callback(_retrieved)
    return check


def _retrieved(check: asyncio.Future[Any]) -> None:
    """A check that ended after its callers stopped waiting: its error is seen (not logged
    as never retrieved); the next request checks again."""
    if not check.cancelled():
        check.exception()


def _mail_waiting_after_an_error(session: Session) -> str | None:
    """The error of a queued mail whose last attempt failed (any worker's attempt: the outbox is
    shared, the senders' own states are not), if there is one."""
    return session.scalar(
        select(OutboundMail.last_error)
        .where(
            OutboundMail.status == "queued",
            OutboundMail.attempts > 0,
            OutboundMail.last_error.is_not(None),
        )
        .order_by(OutboundMail.id.desc())
        .limit(1)
    )


async def _email(state: ServiceState, database_up: bool) -> EmailHealth:
    health = EmailHealth()
    sender = state.mail_sender
    if sender is not None:
        # The shared outbox is the truth: another worker's sender may have failed, or may have
        # sent what this one failed on. This worker's own view stands in while the database is
        # lost: down in the check just made (not asked again), or no answer in time now.
        health.outbound, health.outbound_detail = sender.state, sender.last_error or ""
        if database_up:
            # Bounded as the database check is (one at a time, at most the probe timeout).
            check = state.outbox_check = _one_at_a_time(
                state.outbox_check,
                lambda: in_worker_thread(state.sessions, _mail_waiting_after_an_error),
            )
            with contextlib.suppress(TimeoutError, *UNAVAILABLE_ERRORS):
                timeout = state.settings.health_probe_timeout_s
                error = await asyncio.wait_for(asyncio.shield(check), timeout)
                health.outbound, health.outbound_detail = (
                    ("failing", error) if error else ("ok", "")
                )
    inbound = state.inbound_mail.health if state.inbound_mail is not None else None
    if inbound is not None and inbound.state == "failing" and inbound.last_error_at:
        health.inbound = "failing"
        health.inbound_detail = f"{inbound.last_error} at {inbound.last_error_at.isoformat()}"
    elif inbound is not None and inbound.state == "standby":
        health.inbound = "ok"
        health.inbound_detail = "read by another worker"
    elif inbound is not None:  # read, or the first poll under way
        health.inbound = "ok"
        health.inbound_detail = "" if inbound.last_poll_at else "first poll under way"
    return health
