"""A Rasa NLU component that tags every message with its language, ``zh`` or ``en``.

The ``language`` slot is filled from this entity, and every response has a Chinese and an
English variation conditioned on that slot, so the bot answers in the customer's language.
"""

from __future__ import annotations

import re
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

# CJK unified ideographs (with extension A and compatibility ideographs).
_CJK_CHARACTER = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")

DEFAULT_MIN_CJK_SHARE = 0.2


def detect_language(text: str, min_cjk_share: float = DEFAULT_MIN_CJK_SHARE) -> str | None:
    """``zh`` when Chinese characters make up more than a small share of the message.

    A Chinese character carries about as much as an English word, so the share is taken over
    Chinese characters plus Latin words: "我的order还没到" is Chinese, "Where is my 订单 #123"
    too, "my iPhone 15 Pro Max" is English. ``None`` when there is nothing to tell by (digits,
    emoji, punctuation), so the conversation keeps the language it had.
    """
    cjk = len(_CJK_CHARACTER.findall(text))
    latin_words = len(_LATIN_WORD.findall(text))
    if cjk + latin_words == 0:
        return None
    return "zh" if cjk / (cjk + latin_words) >= min_cjk_share else "en"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class LanguageDetector(GraphComponent):
    """Adds the entity ``language`` (``zh`` / ``en``) to each message; nothing to train."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"min_cjk_share": DEFAULT_MIN_CJK_SHARE}

    def __init__(self, config: dict[str, Any]) -> None:
        self.min_cjk_share = float(config["min_cjk_share"])

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LanguageDetector:
        return cls(config)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            language = detect_language(text, self.min_cjk_share)
            if language is None:
                continue
            entity = {
                "entity": "language",
                "value": language,
                "start": 0,
                "end": len(text),
                "confidence": 1.0,
                "extractor": self.__class__.__name__,
            }
            message.set(ENTITIES, [*message.get(ENTITIES, []), entity], add_to_output=True)
        return messages
