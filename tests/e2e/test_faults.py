"""`kill -9` of each process of the real stack while four customers type: the supervisor
starts it again, and the database shows every message stored once and answered once. With two
Rasa processes (as `kefu stack up` runs them), sharing the conversations, the first customer's
Rasa is killed and the other takes over its conversations."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from bench.faults import VICTIMS, kill_under_load, supervised
from bot.stack import Stack
from tests.e2e.conftest import layout_config

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


@pytest.fixture(scope="module")
def two_rasa(supervised_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if len(supervised_stack.config.rasa_urls) == 2:  # the scale layout's stack has two already
        yield supervised_stack
        return
    config = layout_config(tmp_path_factory.mktemp("two-rasa"), rasa_workers=2)
    with Stack(config) as two, supervised(two):
        yield two


def test_the_other_rasa_takes_over_from_a_killed_one(two_rasa: Stack) -> None:
    run = asyncio.run(kill_under_load(two_rasa, "rasa", customers=4, messages=8))
    assert run.audit.sent == 32
    counts = (run.audit.lost, run.audit.doubled, run.audit.unanswered)
    assert counts == (0, 0, 0), "\n".join(run.audit.problems)
    # The apology for a Rasa that is down was not needed: the other one answered at once.
    assert run.audit.apologies == 0
    assert run.recovery_s is not None, "nothing sent after the kill was answered"
    two_rasa.wait_until_healthy()  # and the killed one is back
