"""Reading and writing conversations and their messages."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.conversations.models import Conversation, Message
from db.base import utcnow
from db.engine import lock_rows
from texts.language import detect_language

# Rasa took a message and said nothing this many times (an action that failed each time):
# the gateway stops asking again.
MAX_SILENT_ANSWERS = 3


class ConversationNotFoundError(KeyError):
    def __init__(self, conversation_id: str) -> None:
        super().__init__(f"conversation {conversation_id!r} not found")

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class StoredAnswer:
    """What answers a customer message once the bot's answer has been stored: its replies, and
    whether they are the ones just given (``stored``) or what was stored to it before (another
    holder of the conversation's lock answered it first: nothing new was stored)."""

    replies: list[Message]
    stored: bool


class ConversationStore:
    """Conversations in one session; every write is committed at once (messages are never
    kept only in memory: the transcript must survive a restart of any process), and what must
    not be seen in part (a message settled and the bot's replies to it) in one commit."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def open(self, language: str | None = None, *, commit: bool = True) -> Conversation:
        """A new conversation; ``commit=False`` leaves it in the caller's transaction (written,
        not committed), to be committed with what it belongs to or rolled back with it."""
        conversation = Conversation(id=str(uuid.uuid4()), language=language)
        self.session.add(conversation)
        if commit:
            self.session.commit()
        else:
            self.session.flush()
        return conversation

    def get(self, conversation_id: str) -> Conversation:
        conversation = self.session.get(Conversation, conversation_id)
        if conversation is None:
            raise ConversationNotFoundError(conversation_id)
        return conversation

    def find_customer_message(self, conversation_id: str, client_message_id: str) -> Message | None:
        query = select(Message).where(
            Message.conversation_id == conversation_id,
            Message.client_message_id == client_message_id,
        )
        return self.session.scalars(query).first()

    def add_customer_message(
        self,
        conversation_id: str,
        text: str,
        client_message_id: str | None,
        button_payload: str | None = None,
        email: dict[str, Any] | None = None,
    ) -> tuple[Message, bool]:
        """Store the message; returns (message, created). A resent id returns the original.
        ``email``: the whole mail a message read from the support mailbox came from, kept with
        it for the agent (bot/chat/email_channel.py).

        The conversation's language follows the customer's: the language of the latest message
        that tells (a button's title does; digits or an emoji do not).
        """
        conversation = self.get(conversation_id)
        if client_message_id is not None:
            existing = self.find_customer_message(conversation_id, client_message_id)
            if existing is not None:
                return existing, False
        message = Message(
            conversation_id=conversation_id,
            sender="customer",
            text=text,
            payload={
                **({"button_payload": button_payload} if button_payload else {}),
                **({"email": email} if email is not None else {}),
            },
            client_message_id=client_message_id,
            awaiting_bot=conversation.handled_by == "bot",
        )
        conversation.updated_at = utcnow()
        conversation.language = detect_language(text) or conversation.language
        self.session.add(message)
        try:
            self.session.commit()
        except IntegrityError:  # the same id arrived twice at the same moment
            self.session.rollback()
            existing = self.find_customer_message(conversation_id, client_message_id or "")
            if existing is None:
                raise
            return existing, False
        return message, True

    def add_reply(
        self,
        conversation_id: str,
        reply_to: int,
        sender: str,
        text: str,
        payload: dict[str, Any],
        *,
        commit: bool = True,
    ) -> Message:
        return self.add_message(
            conversation_id, sender, text, payload, reply_to=reply_to, commit=commit
        )

    def store_answer(
        self,
        conversation_id: str,
        message_id: int,
        replies: Sequence[tuple[str, dict[str, Any]]],
        counted: bool = True,
    ) -> StoredAnswer:
        """The bot's answer (replies as text and payload) to a message it owes, and the message
        settled (``settle``), in one commit: a crash or a lost connection leaves the message owed
        with no answer, never settled with part of one.

        Only while the message is still owed, read under its row lock: if the conversation's
        lock lapsed and another holder answered it meanwhile (or it was released), nothing is
        stored and the replies stored to it before are returned."""
        lock_rows(self.session, Message.id, [message_id])
        message = self.session.get(Message, message_id, populate_existing=True)
        if message is None:
            raise KeyError(message_id)
        if not message.awaiting_bot:
            self.session.rollback()
            return StoredAnswer(self.replies_to(message_id), stored=False)
        self.settle(message_id, answered=bool(replies), counted=counted, commit=False)
        stored = [
            self.add_reply(conversation_id, message_id, "bot", text, payload, commit=False)
            for text, payload in replies
        ]
        self.session.commit()
        return StoredAnswer(stored, stored=True)

    def store_apology(
        self, conversation_id: str, message_id: int, text: str, payload: dict[str, Any]
    ) -> StoredAnswer:
        """The system's word that the answer will follow, unless the bot answered the message
        meanwhile (another holder of a lapsed conversation lock): then that answer, unstored
        again."""
        lock_rows(self.session, Message.id, [message_id])
        message = self.session.get(Message, message_id, populate_existing=True)
        if message is None:
            raise KeyError(message_id)
        answer = [m for m in self.replies_to(message_id) if m.sender == "bot"]
        if answer and not message.awaiting_bot:
            self.session.rollback()
            return StoredAnswer(self.replies_to(message_id), stored=False)
        apology = self.add_reply(conversation_id, message_id, "system", text, payload, commit=False)
        self.session.commit()
        return StoredAnswer([apology], stored=True)

    def add_message(
        self,
        conversation_id: str,
        sender: str,
        text: str,
        payload: dict[str, Any],
        reply_to: int | None = None,
        *,
        commit: bool = True,
    ) -> Message:
        """A bot, agent or system message (with whatever else is pending in the session);
        ``commit=False`` leaves it written in the caller's transaction, to be committed with
        what it belongs to."""
        message = Message(
            conversation_id=conversation_id,
            sender=sender,
            text=text,
            payload=payload,
            reply_to=reply_to,
        )
        self.session.add(message)
        if commit:
            self.session.commit()
        else:
            self.session.flush()
        return message

    def owed_answers(
        self,
        conversation_id: str | None = None,
        before: int | None = None,
        stored_before: datetime | None = None,
    ) -> list[Message]:
        """Customer messages the bot still owes an answer, oldest first: of one conversation
        (``before`` a message id) or of all (``stored_before`` a moment)."""
        query = select(Message).where(Message.awaiting_bot.is_(True))
        if conversation_id is not None:
            query = query.where(Message.conversation_id == conversation_id)
        if before is not None:
            query = query.where(Message.id < before)
        if stored_before is not None:
            query = query.where(Message.created_at < stored_before)
        return list(self.session.scalars(query.order_by(Message.id)))

    def settle(
        self, message_id: int, answered: bool, counted: bool = True, *, commit: bool = True
    ) -> Message:
        """The bot answered the message (``answered``), or took it and said nothing: count the
        attempt (unless not ``counted``: the action server was down, which says nothing about
        the message), and stop owing it after MAX_SILENT_ANSWERS of those. ``commit=False``:
        written in the caller's transaction (``store_answer`` commits it with the replies)."""
        message = self.session.get(Message, message_id)
        if message is None:
            raise KeyError(message_id)
        if answered:
            message.awaiting_bot = False
        elif counted:
            message.bot_attempts += 1
            message.awaiting_bot = message.bot_attempts < MAX_SILENT_ANSWERS
        if commit:
            self.session.commit()
        else:
            self.session.flush()
        return message

    def release(self, message_ids: list[int]) -> None:
        """No longer the bot's to answer (an agent has the conversation, or it is too old)."""
        for message_id in message_ids:
            message = self.session.get(Message, message_id)
            if message is not None:
                message.awaiting_bot = False
        self.session.commit()

    def last_system_message(self, conversation_id: str) -> Message | None:
        query = (
            select(Message)
            .where(Message.conversation_id == conversation_id, Message.sender == "system")
            .order_by(Message.id.desc())
        )
        return self.session.scalars(query).first()

    def has_message_of_kind(self, conversation_id: str, kind: str) -> bool:
        return any((m.payload or {}).get("kind") == kind for m in self.transcript(conversation_id))

    def replies_to(self, message_id: int) -> list[Message]:
        query = select(Message).where(Message.reply_to == message_id).order_by(Message.id)
        return list(self.session.scalars(query))

    def transcript(self, conversation_id: str, after: int = 0) -> list[Message]:
        """The conversation's messages in order; ``after`` a message id, only the later ones."""
        self.get(conversation_id)
        query = (
            select(Message)
            .where(Message.conversation_id == conversation_id, Message.id > after)
            .order_by(Message.id)
        )
        return list(self.session.scalars(query))
