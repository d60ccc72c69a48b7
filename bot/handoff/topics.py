"""Always-human topics: words that send a conversation to a person (configured per company)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.settings import Settings


@dataclass(frozen=True)
class AlwaysHumanTopics:
    words: tuple[str, ...]
    priority_points: int

    @classmethod
    def from_settings(cls, settings: Settings) -> AlwaysHumanTopics:
        words = tuple(w.strip().lower() for w in settings.always_human_topics if w.strip())
        return cls(words, settings.always_human_priority)

    def match(self, text: str) -> str | None:
        """The first configured topic the text mentions (case-insensitive), if any."""
        lowered = text.lower()
        return next((word for word in self.words if word in lowered), None)

    def points(self, text: str) -> int:
        return self.priority_points if self.match(text) else 0
