"""What the service holds for its lifetime: the database and the search index."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.api.probes import AnyOfProbes, DependencyProbe, ProbePolicy
from bot.auth.redis_throttle import RedisLoginThrottle
from bot.auth.throttle import LoginThrottle, ThrottlePolicy
from bot.chat.email_channel import EmailChannel
from bot.chat.gateway import ChatGateway
from bot.conversations.hub import ConversationHub
from bot.conversations.locks import conversation_locks
from bot.conversations.rasa_client import RasaClient
from bot.conversations.redis_hub import RedisConversationHub
from bot.database import upgrade_database
from bot.handoff.desk import HandoffDesk
from bot.handoff.presence import AgentPresence, InProcessPresence
from bot.handoff.redis_presence import RedisPresence
from bot.handoff.routing import RoutingRules
from bot.handoff.signals import EscalationSignals
from bot.handoff.topics import AlwaysHumanTopics
from bot.mail.imap import InboxPoller, lease_ttl_s, mailbox_name
from bot.mail.outbox import Outbox, OutboxSender
from bot.metrics import ServiceMetrics
from bot.settings import Settings
from bot.shared.lease import RedisLease
from bot.shared.redis import SharedRedis
from bot.shared.tasks import stopped
from db.engine import create_engine_for, session_factory
from kb.store import ArticleStore
from retrieval.background_calibrator import BackgroundCalibrator
from retrieval.bands import load_thresholds
from retrieval.encoders import get_encoder, resolve_encoder
from retrieval.index_store import open_index
from retrieval.index_sync import IndexSync, PollingIndexSync
from retrieval.retriever import Retriever

log = logging.getLogger(__name__)

# The hub's channel on which a worker that changed articles nudges the others' index sync.
ARTICLES_CHANNEL = "articles"


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
    index_nudges: asyncio.Task[None] | None = None
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    # The health endpoint's database check under way (bot/api/routes/health.py): one at a time.
    database_check: asyncio.Future[None] | None = None
    # Its look at the outbox (a queued mail's last error), one at a time too.
    outbox_check: asyncio.Future[str | None] | None = None
    # With REDIS_URL: the connection through which the workers share hub, presence, throttle.
    shared: SharedRedis | None = None
    # Mail (docs/email.md): what is queued, and the loop that sends it (None: email off).
    outbox: Outbox = field(default_factory=lambda: Outbox(None, timedelta(0)))
    mail_sender: OutboxSender | None = None
    mail_sending: asyncio.Task[None] | None = None
    # Inbound mail (KEFU_IMAP_URL): the mailbox's poller, None when inbound email is off.
    inbound_mail: InboxPoller | None = None
    inbound_polling: asyncio.Task[None] | None = None
    # Its sweep: an answer whose mail or handoff never followed gets them (EmailChannel.sweep).
    mail_sweeping: asyncio.Task[None] | None = None

    @classmethod
    def start(cls, settings: Settings, metrics: ServiceMetrics | None = None) -> ServiceState:
        routing = RoutingRules.from_settings(settings)  # a configuration error stops us here
        # An unreachable REDIS_URL stops us here too (RedisUnavailableError names it).
        shared = SharedRedis.open(settings.redis_url) if settings.redis_url else None
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
        hub = RedisConversationHub(shared) if shared else ConversationHub()
        signals = EscalationSignals(_sentiment_scores, AlwaysHumanTopics.from_settings(settings))
        metrics = metrics or ServiceMetrics()
        timeout = timedelta(seconds=settings.presence_timeout_s)
        presence: AgentPresence = (
            RedisPresence(shared, timeout) if shared else InProcessPresence(timeout)
        )
        outbox = Outbox.from_settings(settings)
        mail_sender = OutboxSender.from_settings(sessions, settings)
        if mail_sender is None:
            log.info("email off: KEFU_SMTP_URL is not set, so no mail is sent (docs/email.md)")
        desk = HandoffDesk(sessions, hub, signals, metrics, presence, routing, outbox)
        rasa = RasaClient(
            settings.rasa_urls, token=settings.rasa_token, actions_url=settings.action_server_url
        )
        locks = conversation_locks(shared)
        gateway = ChatGateway(sessions, rasa, hub, desk, metrics, locks)
        retriever = opened.retriever
        metrics.watch(
            queue_length=desk.queue_length,
            index_articles=lambda: len(retriever.article_versions),
            index_vectors=lambda: retriever.passage_count,
            index_changed_at=lambda: retriever.changed_at,
        )
        throttling = ThrottlePolicy(
            settings.login_delay_cap_s,
            settings.login_failing_delay_cap_s,
            settings.login_free_failures_per_address,
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
            RedisLoginThrottle(shared, throttling) if shared else LoginThrottle(throttling),
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
            shared=shared,
            outbox=outbox,
            mail_sender=mail_sender,
        )

    def start_sharing(self) -> None:
        """In the event loop, before the first request: the hub's listener and the presence
        heartbeat (nothing to start without Redis)."""
        self.gateway.hub.start()
        self.desk.presence.start()

    def start_mail(self) -> None:
        """In the event loop: the outbox's sender, when email is on."""
        if self.mail_sender is not None:
            self.mail_sending = asyncio.create_task(self.mail_sender.run_forever())

    def start_redelivery(self) -> None:
        """In the event loop that serves the requests; every ``redeliver_every_s`` (0: never)."""
        if self.settings.redeliver_every_s > 0:
            self.redelivery = asyncio.create_task(
                self.gateway.redeliver_forever(self.settings.redeliver_every_s)
            )

    def start_inbound_mail(self) -> None:
        """In the event loop: the support mailbox read at start and every ``imap_poll_s``;
        off (said once in the log) without KEFU_IMAP_URL."""
        server = self.settings.imap_server()
        if server is None:
            log.info("inbound email is off (no KEFU_IMAP_URL)")
            return
        channel = EmailChannel(
            self.sessions,
            self.gateway,
            self.desk,
            self.outbox,
            self.settings.mail_from,
            self.settings.secret_key,
        )
        poll_s = self.settings.imap_poll_s
        # With Redis, one worker at a time reads the mailbox (docs/email.md#several-workers).
        lease = (
            RedisLease(self.shared, f"imap:{mailbox_name(server)}", lease_ttl_s(poll_s))
            if self.shared is not None
            else None
        )
        self.inbound_mail = InboxPoller(
            server,
            self.sessions,
            channel.receive,
            max_bytes=self.settings.mail_max_bytes,
            poll_s=poll_s,
            lease=lease,
        )
        self.inbound_polling = asyncio.create_task(self.inbound_mail.run_forever())
        self.mail_sweeping = asyncio.create_task(channel.sweep_forever())

    def start_index_sync(self) -> None:
        """In the event loop; every ``index_sync_every_s`` (0: never)."""
        if self.settings.index_sync_every_s > 0:
            self.index_following = asyncio.create_task(self.index_sync.follow())
        if self.shared is not None:
            self.index_nudges = asyncio.create_task(self._follow_article_nudges())

    async def _follow_article_nudges(self) -> None:
        with self.gateway.hub.subscribe(ARTICLES_CHANNEL) as nudges:
            while True:
                await nudges.frames.get()
                self.index_sync.nudge()

    def articles_changed(self) -> None:
        """This worker changed articles (its index has them already): the others look now.
        From the request's thread; nothing to say with one worker."""
        hub = self.gateway.hub
        if isinstance(hub, RedisConversationHub):
            hub.announce(ARTICLES_CHANNEL, {"type": "articles_changed"})

    async def stop(self) -> None:
        for task in (
            self.redelivery,
            self.index_following,
            self.index_nudges,
            self.mail_sending,
            self.inbound_polling,
            self.mail_sweeping,
        ):
            if task is not None:
                await stopped(task)
        self.calibrator.stop()
        await self.gateway.hub.aclose()
        self.desk.presence.stop()
        if self.shared is not None:
            await self.shared.aclose()
        await self.gateway.rasa.aclose()
        self.engine.dispose()
