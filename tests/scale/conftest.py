"""The stack at scale for the cross-worker tests: two service workers sharing the public port
(each also on its own, so a test can pin a client to one), two Rasa processes with their action
servers, over the harnesses' PostgreSQL and Redis (tests/servers/), as `kefu stack up --workers
2 --rasa-workers 2` runs them. `make test-scale` runs these after the end-to-end suite on the
same layout."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bot.auth.store import UserStore
from bot.stack import Stack, demo_stack_config
from db.engine import create_engine_for, session_factory
from tests.servers.postgres import PostgresServer
from tests.servers.redis import RedisServer

PASSWORD = "scale-password-1"


@pytest.fixture(scope="session")
def scale(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server: PostgresServer,
    redis_server: RedisServer,
) -> Iterator[Stack]:
    config = demo_stack_config(
        tmp_path_factory.mktemp("scale"),
        rasa_workers=2,
        workers=2,
        database_url=postgres_server.create_database("kefu_scale"),
        redis_url=redis_server.url,
        secret_key="scale-secret-key",
        service_env={"KEFU_PRESENCE_TIMEOUT_S": "1"},
    )
    with Stack(config) as running:
        _create_staff(running)
        yield running


def _create_staff(stack: Stack) -> None:
    assert stack.config.database_url is not None
    engine = create_engine_for(stack.config.database_url)
    with session_factory(engine)() as session:
        users = UserStore(session)
        for email, role in (
            ("ann@shop.test", "agent"),
            ("ben@shop.test", "agent"),
            ("erin@shop.test", "editor"),
        ):
            users.create(email, email.split("@")[0].title(), role, PASSWORD)
    engine.dispose()


@pytest.fixture(scope="session")
def workers(scale: Stack) -> list[str]:
    """Each service worker's own address, "service" first."""
    return scale.config.worker_urls


class Staff:
    """A member of staff logged in on one worker, calling that worker only."""

    def __init__(self, base_url: str, email: str) -> None:
        self.base_url = base_url
        login = httpx.post(
            f"{base_url}/api/v1/auth/login", json={"email": email, "password": PASSWORD}
        )
        login.raise_for_status()
        self.token = login.cookies["kefu_session"]
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )

    @property
    def ws_headers(self) -> dict[str, str]:
        return {"Cookie": f"kefu_session={self.token}", "Origin": self.base_url}
