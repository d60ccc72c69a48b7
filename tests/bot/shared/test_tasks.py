"""A background task that loses a cancel is still ended (the service's stop never hangs)."""

from __future__ import annotations

import asyncio

import pytest

from bot.shared.tasks import stopped


def test_a_task_that_swallows_a_cancel_is_cancelled_again_until_it_ends() -> None:
    cancels = 0

    async def stubborn() -> None:
        nonlocal cancels
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                cancels += 1
                if cancels == 3:  # what a lost cancel looks like: the loop goes on
                    raise

    async def scenario() -> bool:
        task = asyncio.create_task(stubborn())
        await asyncio.sleep(0)
        await asyncio.wait_for(stopped(task), 5)
        return task.cancelled()

    assert asyncio.run(scenario())
    assert cancels == 3


def test_a_task_that_failed_is_reported_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    async def failing() -> None:
        raise RuntimeError("boom")

    async def scenario() -> None:
        task = asyncio.create_task(failing(), name="the-failing-task")
        await asyncio.sleep(0)
        await stopped(task)

    asyncio.run(scenario())
    assert "the-failing-task failed" in caplog.text
