"""How changes to articles made by other processes reach this process's search index.

The editor console's routes update the index themselves, at once. ``kefu kb import``, another
service worker, anything else that writes the database does not, so the service follows a
change feed: ``IndexSync``. ``PollingIndexSync`` is the database itself, read every second; with
Redis, a worker that changed articles also nudges the others, which then read it at once
(docs/scaling.md#redis). The poll stays: it is what catches up a late worker, a missed nudge
and ``kefu kb import``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

import anyio
from sqlalchemy.orm import Session, sessionmaker

from db.engine import unit_of_work
from kb.store import ArticleStore
from retrieval.retriever import Retriever, SyncReport

log = logging.getLogger(__name__)


class IndexSync(Protocol):
    """Brings other processes' changes to articles into this process's index."""

    async def follow(self) -> None:
        """Apply changes as they come, until cancelled."""

    def nudge(self) -> None:
        """Another process says articles changed: look now, not at the next round (call it
        in the event loop)."""


class PollingIndexSync:
    """Reads the knowledge base's revision every ``every_s`` seconds (one count); when it has
    moved, makes the index match the published articles, which re-encodes or drops only the
    articles whose version or topic differs from the indexed one.

    This process's own changes are in the index already and are left alone. A round racing
    an editor's change may index the version before it for a moment; that change moved the
    revision, so the next round puts it right.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        retriever: Retriever,
        every_s: float,
        revision: int | None = None,
    ) -> None:
        self.sessions = sessions
        self.retriever = retriever
        self.every_s = every_s
        # The revision the index last matched; None compares once in the first round.
        self.revision = revision
        self._nudged = asyncio.Event()

    def nudge(self) -> None:
        self._nudged.set()

    def catch_up(self) -> SyncReport:
        """One round, in this thread."""
        with unit_of_work(self.sessions) as session:
            store = ArticleStore(session)
            # Read first: a change committed after it moves it again for the next round.
            revision = store.revision()
            if revision == self.revision:
                return SyncReport()
            published = store.published()
        report = self.retriever.sync(published)
        self.revision = revision
        return report

    async def follow(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can lose a cancel (stop hangs).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.every_s):
                    await self._nudged.wait()
            self._nudged.clear()
            try:
                # In a worker thread: encoding a changed article must not stall the sockets.
                report = await anyio.to_thread.run_sync(self.catch_up)
            except Exception:  # a database hiccup must not end the feed; the next round retries
                log.exception("index sync round failed")
                continue
            if report.changed:
                log.info(
                    "index caught up with other processes: %d added, %d updated, %d removed",
                    len(report.added),
                    len(report.updated),
                    len(report.removed),
                )
