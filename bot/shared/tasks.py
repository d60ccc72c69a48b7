"""Ending a worker's background tasks for certain."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)


async def stopped(task: asyncio.Task[Any]) -> None:
    """Cancelled again until it has ended. One cancel can be lost on Python 3.11 (a
    ``wait_for`` whose inner future finishes at that moment, a worker thread being awaited),
    and then a single ``await task`` waits for ever and the service never stops."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.5)
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s failed", task.get_name(), exc_info=task.exception())
