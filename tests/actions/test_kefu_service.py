"""The actions' client of the service keeps one connection between calls."""

from __future__ import annotations

from actions.clients.kefu_service import KefuServiceClient
from tests.actions.conftest import TOKEN, FakeService, RunWithService


def test_searches_share_one_connection(with_service: RunWithService, service: FakeService) -> None:
    async def body(base_url: str) -> None:
        client = KefuServiceClient(base_url, TOKEN, timeout_s=2)
        for text in ("refund", "parcel", "invoice"):
            await client.search(text, "en")

    with_service(body)
    assert len(service.peers) == 3
    assert len(set(service.peers)) == 1  # one TCP connection, kept alive


def test_a_new_event_loop_gets_a_new_http_client(
    with_service: RunWithService, service: FakeService
) -> None:
    client = KefuServiceClient("http://127.0.0.1:1", TOKEN, timeout_s=2)

    async def body(base_url: str) -> None:
        client.base_url = base_url
        await client.search("refund", "en")

    with_service(body)
    with_service(body)  # another asyncio.run: the first loop's client is unusable there
    assert len(service.requests) == 2


def test_from_env_is_one_client_per_process(monkeypatch) -> None:
    monkeypatch.setenv("KEFU_SERVICE_URL", "http://127.0.0.1:9")
    assert KefuServiceClient.from_env() is KefuServiceClient.from_env()
    monkeypatch.setenv("KEFU_SERVICE_URL", "http://127.0.0.1:10")
    assert KefuServiceClient.from_env().base_url == "http://127.0.0.1:10"
