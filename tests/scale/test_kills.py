"""`kill -9` of one service worker, and separately of one Rasa process, while twenty customers
type through the public port: the supervisor starts it again, the customers of a killed worker
reconnect to a live one (the port stays served), and the database shows every message stored
once and answered (or apologised for, then answered) once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from bench.faults import KillRun, kill_under_load, supervised
from bot.stack import Stack

pytestmark = [pytest.mark.scale, pytest.mark.slow]

CUSTOMERS = 20
MESSAGES = 5  # each; a question every 2 s on average: about 10 a second in all


@pytest.fixture(scope="module")
def supervised_scale(scale: Stack) -> Iterator[Stack]:
    with supervised(scale):
        yield scale
    scale.wait_until_healthy()


def kill_during_load(stack: Stack, victim: str) -> KillRun:
    run = asyncio.run(
        kill_under_load(
            stack, victim, customers=CUSTOMERS, messages=MESSAGES, gap_s=2.0, kill_after_s=3.0
        )
    )
    print(
        f"{victim} killed: {run.audit.sent} sent, {run.audit.apologies} apologies, "
        f"first answer after the kill in {run.recovery_s} s"
    )
    return run


@pytest.mark.parametrize("victim", ["service", "rasa"])
def test_a_killed_worker_loses_doubles_and_leaves_unanswered_nothing(
    supervised_scale: Stack, victim: str
) -> None:
    run = kill_during_load(supervised_scale, victim)
    assert run.audit.sent == CUSTOMERS * MESSAGES
    counts = (run.audit.lost, run.audit.doubled, run.audit.unanswered)
    assert counts == (0, 0, 0), "\n".join(run.audit.problems)
    assert run.recovery_s is not None, "nothing sent after the kill was answered"
    supervised_scale.wait_until_healthy()  # and the killed one is back
