"""The signals the bot's escalation rules read from one customer message: how upset the
customer sounds, and which always-human topic they mention."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.handoff.topics import AlwaysHumanTopics

SentimentScorer = Callable[[Sequence[str]], list[float]]


@dataclass(frozen=True)
class MessageSignals:
    handoff_topic: str | None
    sentiment: float  # -1 (very upset) to 1


class EscalationSignals:
    """Sentiment (the bilingual scorer) and always-human topics (the company's settings)."""

    def __init__(self, sentiment: SentimentScorer, topics: AlwaysHumanTopics) -> None:
        self._sentiment = sentiment
        self.topics = topics

    def sentiments(self, texts: Sequence[str]) -> list[float]:
        return self._sentiment(texts) if texts else []

    def topic_points(self, texts: Sequence[str]) -> int:
        """The priority the most urgent always-human topic among the texts adds."""
        return max((self.topics.points(text) for text in texts), default=0)

    def read(self, text: str) -> MessageSignals:
        return MessageSignals(
            handoff_topic=self.topics.match(text), sentiment=round(self.sentiments([text])[0], 3)
        )
