"""The service's Prometheus metrics (``GET /metrics``), one registry per app.

Counters move where the service sees the event: the chat gateway (customer messages, Rasa's
failures), the handoff desk (opened, claimed, resolved, returned), the actions' knowledge-base
search (answers by band) and the HTTP middleware (latency, open WebSockets). Values that exist
anyway (the waiting queue, the index) are read when Prometheus scrapes, not kept twice.
Every label has a small, fixed set of values: a route is its template, never its raw path.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Seconds: a page or an API call (ms), a knowledge-base answer through Rasa (about 0.1 s), a
# busy Rasa (seconds; the gateway gives up on it after 10 s).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServiceMetrics:
    """The metrics of one service process (docs/operations.md#metrics-and-logs lists them)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.request_duration = Histogram(
            "kefu_http_request_duration_seconds",
            "HTTP requests by route template, method and status class, and how long they took",
            ["route", "method", "status_class"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.websockets_open = Gauge(
            "kefu_websocket_connections",
            "WebSocket connections open now, by route template",
            ["route"],
            registry=registry,
        )
        self.customer_messages = Counter(
            "kefu_customer_messages",
            "Customer messages received (HTTP or WebSocket; a resent one is not counted again), "
            "by who answers them: the bot or an agent",
            ["handled_by"],
            registry=registry,
        )
        self.bot_answers = Counter(
            "kefu_bot_answers",
            "The bot's knowledge-base answers to customers, by confidence band "
            "(answer, clarify, none)",
            ["band"],
            registry=registry,
        )
        self.handoffs_opened = Counter(
            "kefu_handoffs_opened",
            "Handoffs to a person opened, by reason",
            ["reason"],
            registry=registry,
        )
        self.handoffs_claimed = Counter(
            "kefu_handoffs_claimed", "Handoffs claimed by an agent", registry=registry
        )
        self.handoffs_resolved = Counter(
            "kefu_handoffs_resolved", "Handoffs an agent resolved", registry=registry
        )
        self.handoffs_returned = Counter(
            "kefu_handoffs_returned", "Handoffs an agent gave back to the bot", registry=registry
        )
        self.rasa_errors = Counter(
            "kefu_rasa_errors",
            "Customer messages the gateway could not get answered: Rasa unreachable or in error "
            "(unavailable), Rasa took it and said nothing while the action server was up (an "
            "action failed: action_failed) or down (action_server_down)",
            ["kind"],
            registry=registry,
        )
        for kind in ("unavailable", "action_failed", "action_server_down"):
            self.rasa_errors.labels(kind)  # shown at 0 before the first, so rate() works
        # Read at scrape time (watch); 0 until the service has started.
        self.queue_length = Gauge(
            "kefu_handoff_queue_length", "Handoffs waiting for an agent", registry=registry
        )
        self.index_articles = Gauge(
            "kefu_index_articles", "Articles in the search index", registry=registry
        )
        self.index_vectors = Gauge(
            "kefu_index_vectors", "Vectors (passages) in the search index", registry=registry
        )
        self.index_changed_at = Gauge(
            "kefu_index_last_update_timestamp_seconds",
            "When the search index last changed (built, loaded or updated), Unix time",
            registry=registry,
        )

    def watch(
        self,
        queue_length: Callable[[], int],
        index_articles: Callable[[], int],
        index_vectors: Callable[[], int],
        index_changed_at: Callable[[], float],
    ) -> None:
        """Gauges read at each scrape from what the service holds; a second start of the same
        app (its lifespan run again) points them at the new state."""
        for gauge, read in (
            (self.queue_length, queue_length),
            (self.index_articles, index_articles),
            (self.index_vectors, index_vectors),
            (self.index_changed_at, index_changed_at),
        ):
            gauge.set_function(read)

    def exposition(self) -> bytes:
        """The Prometheus text format."""
        return generate_latest(self.registry)
