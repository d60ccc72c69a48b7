"""The polling index sync: changes another process writes to the database reach this
process's index in one round, this process's own changes are not applied twice, and a failed
round does not end the feed. A real SQLite file, the hashing encoder."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from db.engine import create_engine_for, session_factory, unit_of_work
from kb.schemas import ArticleIn, ArticleSnapshot
from kb.store import ArticleStore
from retrieval.bands import BandThresholds
from retrieval.index_sync import PollingIndexSync
from retrieval.retriever import Retriever, SyncReport
from tests.retrieval.conftest import HashingEncoder
from tests.servers.databases import FreshDatabases

GIFT_WRAPPING = {
    "id": "gift-wrapping",
    "title": "Gift wrapping",
    "body": "We wrap any order in recycled gift paper.",
    "questions": ["Do you offer gift wrapping?"],
    "category": "orders",
    "tags": [],
    "language": "en",
    "status": "published",
}
QUESTION = "do you offer gift wrapping"


def _sessions(url: str) -> Iterator[sessionmaker[Session]]:
    engine = create_engine_for(url)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def database_url(tmp_path: Path, fresh_databases: FreshDatabases) -> Iterator[str]:
    with fresh_databases.fresh(tmp_path) as url:
        yield url


@pytest.fixture
def service(database_url: str) -> Iterator[sessionmaker[Session]]:
    """The running service's sessions."""
    yield from _sessions(database_url)


@pytest.fixture
def other_process(database_url: str) -> Iterator[sessionmaker[Session]]:
    """Another engine on the same file, as ``kefu kb import`` has."""
    yield from _sessions(database_url)


@pytest.fixture
def retriever(encoder: HashingEncoder, thresholds: BandThresholds) -> Retriever:
    return Retriever(encoder, thresholds)


@pytest.fixture
def index_sync(service: sessionmaker[Session], retriever: Retriever) -> PollingIndexSync:
    return PollingIndexSync(service, retriever, every_s=0.01)


def write(sessions: sessionmaker[Session], **changes: object) -> None:
    with unit_of_work(sessions) as session:
        ArticleStore(session).upsert(ArticleIn.model_validate(GIFT_WRAPPING | changes))


def top_hit(retriever: Retriever) -> str | None:
    top = retriever.search(QUESTION).top
    return top.article_id if top else None


def test_an_article_published_elsewhere_is_found_after_one_round(
    other_process: sessionmaker[Session], index_sync: PollingIndexSync, retriever: Retriever
) -> None:
    write(other_process)
    assert top_hit(retriever) is None
    assert index_sync.catch_up().added == ["gift-wrapping"]
    assert top_hit(retriever) == "gift-wrapping"


def test_an_article_archived_or_unpublished_elsewhere_is_no_longer_found(
    other_process: sessionmaker[Session], index_sync: PollingIndexSync, retriever: Retriever
) -> None:
    write(other_process)
    index_sync.catch_up()
    write(other_process, status="archived")
    assert index_sync.catch_up().removed == ["gift-wrapping"]
    assert top_hit(retriever) is None
    write(other_process, status="published")
    index_sync.catch_up()
    write(other_process, status="draft")
    assert index_sync.catch_up().removed == ["gift-wrapping"]


def test_an_edit_elsewhere_is_reindexed_and_the_calibration_hears_of_it(
    other_process: sessionmaker[Session], index_sync: PollingIndexSync, retriever: Retriever
) -> None:
    write(other_process)
    index_sync.catch_up()
    changes: list[None] = []
    retriever.on_change = lambda: changes.append(None)
    write(other_process, title="Gift wrapping and cards")
    assert index_sync.catch_up().updated == ["gift-wrapping"]
    assert retriever.article_versions == {"gift-wrapping": 2}
    assert changes  # the background calibrator listens on on_change


def test_a_round_without_changes_reads_no_article_and_encodes_nothing(
    other_process: sessionmaker[Session],
    index_sync: PollingIndexSync,
    encoder: HashingEncoder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write(other_process)
    index_sync.catch_up()
    encoded, loads = encoder.documents_encoded, []
    published = ArticleStore.published

    def counted(store: ArticleStore) -> list[ArticleSnapshot]:
        loads.append(None)
        return published(store)

    monkeypatch.setattr(ArticleStore, "published", counted)
    assert index_sync.catch_up() == SyncReport()
    assert (loads, encoder.documents_encoded) == ([], encoded)
    write(other_process, title="Gift wrapping and cards")
    index_sync.catch_up()
    assert loads == [None]  # a change moves the revision: the articles are read again


def test_this_process_own_change_is_not_applied_twice(
    service: sessionmaker[Session], index_sync: PollingIndexSync, retriever: Retriever
) -> None:
    index_sync.catch_up()
    # As the editor's routes do: commit, then index at once.
    with unit_of_work(service) as session:
        article = ArticleStore(session).upsert(ArticleIn.model_validate(GIFT_WRAPPING)).article
    retriever.upsert([article])
    changes: list[None] = []
    retriever.on_change = lambda: changes.append(None)
    assert index_sync.catch_up().changed == 0
    assert changes == []  # no needless recalibration either


def test_a_failed_round_does_not_end_the_feed(
    other_process: sessionmaker[Session],
    index_sync: PollingIndexSync,
    retriever: Retriever,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    catch_up = index_sync.catch_up
    rounds: list[str] = []

    def flaky() -> SyncReport:
        rounds.append("round")
        if len(rounds) == 1:
            raise RuntimeError("database is locked")
        return catch_up()

    monkeypatch.setattr(index_sync, "catch_up", flaky)
    write(other_process)

    async def follow_until_found() -> None:
        following = asyncio.create_task(index_sync.follow())
        async with asyncio.timeout(5):
            while top_hit(retriever) is None:
                await asyncio.sleep(0.01)
        following.cancel()

    asyncio.run(follow_until_found())
    assert len(rounds) >= 2
