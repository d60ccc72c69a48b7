"""Staff accounts: a name shown to customers and colleagues cannot reorder their screens."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from bot.auth.store import UserStore
from tests.bot.conftest import PASSWORD


def test_a_staff_name_loses_the_bidirectional_overrides(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        users = UserStore(session)
        assert users.create("eve@shop.test", "\u202eeve", "agent", PASSWORD).name == "eve"
        assert users.create("mo@shop.test", "مريم", "agent", PASSWORD).name == "مريم"
        # Nothing but controls: the email stands in, as for an empty name.
        assert users.create("x@shop.test", "\u202e\u202c", "agent", PASSWORD).name == "x@shop.test"
