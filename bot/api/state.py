"""What the service holds for its lifetime: the database and the search index."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.api.probes import AnyOfProbes, DependencyProbe, ProbePolicy
from bot.auth.throttle import LoginThrottle, ThrottlePolicy
from bot.chat.gateway import ChatGateway
from bot.conversations.hub import ConversationHub
from bot.conversations.locks import conversation_locks
from bot.conversations.rasa_client import RasaClient
from bot.database import upgrade_database
from bot.handoff.desk import HandoffDesk
from bot.handoff.presence import InProcessPresence
from bot.handoff.routing import RoutingRules
from bot.handoff.signals import EscalationSignals
from bot.handoff.topics import AlwaysHumanTopics
from bot.metrics import ServiceMetrics
from bot.settings import Settings
from db.engine import create_engine_for, session_factory
from kb.store import ArticleStore
from retrieval.background_calibrator import BackgroundCalibrator
from retrieval.bands import load_thresholds
from retrieval.encoders import get_encoder, resolve_encoder
from retrieval.index_store import open_index
from retrieval.index_sync import IndexSync, PollingIndexSync
from retrieval.retriever import Retriever

log = logging.getLogger(__name__)


def _sentiment_scores(texts: Sequence[str]) -> list[float]:
    # Imported on first use: the scorer fits on the encoder, which loads lazily.
    from bot.handoff.sentiment import get_sentiment_scorer

    return get_sentiment_scorer().scores(texts)


def _warm_up_sentiment() -> None:
    from bot.handoff.sentiment import get_sentiment_scorer

    get_sentiment_scorer().fit()


@dataclass
class ServiceState:
    """Built once at start-up and shared by every request of the process."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    retriever: Retriever
    index_source: str
    gateway: ChatGateway
    desk: HandoffDesk
    login_throttle: LoginThrottle
    calibrator: BackgroundCalibrator
    # The health endpoint's probes of Rasa and the action server.
    rasa_probe: AnyOfProbes
    action_server_probe: DependencyProbe
    # Other processes' changes to articles (kefu kb import, another worker) reach the index.
    index_sync: IndexSync
    # Answers what the bot owes after a crash or while Rasa was down (ChatGateway.redeliver).
    redelivery: asyncio.Task[None] | None = None
    index_following: asyncio.Task[None] | None = None
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)

    @classmethod
    def start(cls, settings: Settings, metrics: ServiceMetrics | None = None) -> ServiceState:
        routing = RoutingRules.from_settings(settings)  # a configuration error stops us here
        upgrade_database(settings.database_url)
        engine = create_engine_for(
            settings.database_url,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
            pool_timeout_s=settings.database_pool_timeout_s,
        )
        sessions = session_factory(engine)
        with sessions() as session:
            store = ArticleStore(session)
            # Read before the index is opened: what changes after it, the index sync applies.
            revision = store.revision()
            # "auto": the knowledge base's languages choose the encoder (docs/retrieval.md).
            encoder = resolve_encoder(settings.encoder, (a.language for a in store.published()))
            opened = open_index(settings.index_dir, get_encoder(encoder), store.published)
        log.info("search index %s (%s), encoder %s", opened.source, opened.sync, encoder)
        # Bands calibrated on this knowledge base, kept up to date after every change.
        calibrator = BackgroundCalibrator(
            opened.retriever, settings.index_dir, load_thresholds(encoder)
        )
        calibrator.start()
        # The sentiment model fits in the background (about 2 s), not on the first handoff.
        threading.Thread(target=_warm_up_sentiment, daemon=True).start()
        hub = ConversationHub()
        signals = EscalationSignals(_sentiment_scores, AlwaysHumanTopics.from_settings(settings))
        metrics = metrics or ServiceMetrics()
        presence = InProcessPresence(timedelta(seconds=settings.presence_timeout_s))
        desk = HandoffDesk(sessions, hub, signals, metrics, presence, routing)
        rasa = RasaClient(
            settings.rasa_urls, token=settings.rasa_token, actions_url=settings.action_server_url
        )
        locks = conversation_locks(settings.redis_url)
        gateway = ChatGateway(sessions, rasa, hub, desk, metrics, locks)
        retriever = opened.retriever
        metrics.watch(
            queue_length=desk.queue_length,
            index_articles=lambda: len(retriever.article_versions),
            index_vectors=lambda: retriever.passage_count,
            index_changed_at=lambda: retriever.changed_at,
        )
        probing = ProbePolicy(
            settings.health_probe_timeout_s,
            settings.health_probe_cache_s,
            settings.health_slow_probes_to_down,
        )
        return cls(
            settings,
            engine,
            sessions,
            opened.retriever,
            opened.source,
            gateway,
            desk,
            LoginThrottle(
                ThrottlePolicy(
                    settings.login_delay_cap_s,
                    settings.login_failing_delay_cap_s,
                    settings.login_free_failures_per_address,
                )
            ),
            calibrator,
            # Rasa's /status needs its auth token: a 401 means Rasa and the service disagree.
            AnyOfProbes(
                [
                    DependencyProbe(f"{url}/status", probing, params={"token": settings.rasa_token})
                    for url in settings.rasa_urls
                ]
            ),
            DependencyProbe(f"{settings.action_server_url}/health", probing),
            PollingIndexSync(
                sessions, opened.retriever, settings.index_sync_every_s, revision=revision
            ),
            metrics=metrics,
        )

    def start_redelivery(self) -> None:
        """In the event loop that serves the requests; every ``redeliver_every_s`` (0: never)."""
        if self.settings.redeliver_every_s > 0:
            self.redelivery = asyncio.create_task(
                self.gateway.redeliver_forever(self.settings.redeliver_every_s)
            )

    def start_index_sync(self) -> None:
        """In the event loop; every ``index_sync_every_s`` (0: never)."""
        if self.settings.index_sync_every_s > 0:
            self.index_following = asyncio.create_task(self.index_sync.follow())

    async def stop(self) -> None:
        for task in (self.redelivery, self.index_following):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self.calibrator.stop()
        await self.gateway.rasa.aclose()
        self.engine.dispose()
