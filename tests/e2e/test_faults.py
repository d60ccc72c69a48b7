"""`kill -9` of each process of the real stack while four customers type: the supervisor
starts it again, and the database shows every message stored once and answered once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from bench.faults import VICTIMS, kill_under_load, supervised
from bot.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def supervised_stack(stack: Stack) -> Iterator[Stack]:
    with supervised(stack):
        yield stack
    stack.wait_until_healthy()


@pytest.mark.parametrize("victim", VICTIMS)
def test_a_killed_process_loses_doubles_and_leaves_unanswered_nothing(
    supervised_stack: Stack, victim: str
) -> None:
    run = asyncio.run(kill_under_load(supervised_stack, victim, customers=4, messages=8))
    supervised_stack.wait_until_healthy()
    assert run.audit.sent == 32
    counts = (run.audit.lost, run.audit.doubled, run.audit.unanswered)
    assert counts == (0, 0, 0), "\n".join(run.audit.problems)
    assert run.recovery_s is not None, "nothing sent after the kill was answered"
