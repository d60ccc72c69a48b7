"""What the service holds for its lifetime: the database and the search index."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.conversations.gateway import ChatGateway
from bot.conversations.hub import ConversationHub
from bot.conversations.rasa_client import RasaClient
from bot.settings import Settings
from kb.db import create_engine_for, session_factory, upgrade_database
from kb.store import ArticleStore
from retrieval.encoders import get_encoder
from retrieval.index_store import open_index
from retrieval.retriever import Retriever

log = logging.getLogger(__name__)


@dataclass
class ServiceState:
    """Built once at start-up and shared by every request of the process."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    retriever: Retriever
    index_source: str
    gateway: ChatGateway

    @classmethod
    def start(cls, settings: Settings) -> ServiceState:
        upgrade_database(settings.database_url)
        engine = create_engine_for(settings.database_url)
        sessions = session_factory(engine)
        with sessions() as session:
            opened = open_index(
                settings.index_dir, get_encoder(settings.encoder), ArticleStore(session).published
            )
        log.info("search index %s (%s)", opened.source, opened.sync)
        gateway = ChatGateway(sessions, RasaClient(settings.rasa_url), ConversationHub())
        return cls(settings, engine, sessions, opened.retriever, opened.source, gateway)

    async def stop(self) -> None:
        await self.gateway.rasa.aclose()
        self.engine.dispose()
