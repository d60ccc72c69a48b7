"""The mail received, kept once per Message-ID (``mail_inbox``), and which conversation a mail
answers: by the Message-IDs it replies to, else by the reply token in an address it was sent
to (docs/email.md#threading)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.conversations.models import Conversation
from bot.mail.inbound import MAX_MESSAGE_ID_CHARS, ParsedMail
from bot.mail.models import InboundMail, OutboundMail
from bot.mail.tokens import conversation_from_token

log = logging.getLogger(__name__)

# How many of a mail's References are looked up (a thread of hundreds is someone's loop).
MAX_THREAD_IDS = 50


@dataclass(frozen=True)
class Thread:
    """Which conversation a mail answers (None: a new one), and how that was found."""

    conversation_id: str | None
    found_by: str  # in_reply_to | reply_token | new
    forged_token: bool = False
    # The kind of our mail it answers (found by in_reply_to: "rating_request", "agent_reply"…).
    replies_to_kind: str | None = None


class InboxStore:
    """``mail_inbox`` in one session; every write is committed at once."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def find(self, message_id: str) -> InboundMail | None:
        query = select(InboundMail).where(InboundMail.message_id_header == message_id)
        return self.session.scalars(query).first()

    def record(
        self, mail: ParsedMail, conversation_id: str | None = None
    ) -> tuple[InboundMail, bool]:
        """Keep the mail as read (its status and reason); returns (row, created). A mail read
        again (the same Message-ID) returns the row kept the first time."""
        existing = self.find(mail.message_id)
        if existing is not None:
            return existing, False
        row = InboundMail(
            message_id_header=mail.message_id[:MAX_MESSAGE_ID_CHARS],
            conversation_id=conversation_id,
            from_address=(mail.from_address or "")[:254],
            subject=mail.subject,
            status=mail.status,
            reason=mail.reason,
            attachments=[a.as_json() for a in mail.attachments],
            size_bytes=mail.size_bytes,
        )
        self.session.add(row)
        try:
            self.session.commit()
        except IntegrityError:  # another worker kept it at the same moment
            self.session.rollback()
            found = self.find(mail.message_id)
            if found is None:
                raise
            return found, False
        return row, True

    def attach_message(self, row_id: int, message_row_id: int) -> None:
        row = self.session.get(InboundMail, row_id)
        if row is not None:
            row.message_row_id = message_row_id
            self.session.commit()

    def thread_of(self, mail: ParsedMail, support_address: str | None, secret: str) -> Thread:
        """The conversation the mail answers: a Message-ID it replies to that Kefu sent (the
        outbox) or received (the inbox) — then a valid reply token in a recipient's address.
        A token that does not verify is forged or altered: never followed, and said so."""
        ids = list(mail.thread_ids[:MAX_THREAD_IDS])
        if ids:
            sent = self.session.execute(
                select(
                    OutboundMail.message_id_header, OutboundMail.conversation_id, OutboundMail.kind
                ).where(OutboundMail.message_id_header.in_(ids))
            ).all()
            received = self.session.execute(
                select(InboundMail.message_id_header, InboundMail.conversation_id).where(
                    InboundMail.message_id_header.in_(ids), InboundMail.conversation_id.is_not(None)
                )
            ).all()
            found: dict[str, tuple[str | None, str | None]] = {
                header: (conversation, None) for header, conversation in received
            }
            found |= {header: (conversation, kind) for header, conversation, kind in sent}
            for message_id in ids:  # the nearest first
                conversation_id, kind = found.get(message_id, (None, None))
                if conversation_id is not None and self._exists(conversation_id):
                    return Thread(conversation_id, "in_reply_to", replies_to_kind=kind)
        forged = False
        for token in reply_tokens(mail.recipients, support_address):
            conversation_id = conversation_from_token(token, secret)
            if conversation_id is not None and self._exists(conversation_id):
                return Thread(conversation_id, "reply_token")
            forged = True
        return Thread(None, "new", forged_token=forged)

    def _exists(self, conversation_id: str) -> bool:
        return self.session.get(Conversation, conversation_id) is not None


def reply_tokens(recipients: tuple[str, ...], support_address: str | None) -> list[str]:
    """The tokens of the support address's plus-addresses among the recipients."""
    if not support_address:
        return []
    support_local, _, support_domain = support_address.lower().rpartition("@")
    tokens = []
    for address in recipients:
        local, _, domain = address.lower().rpartition("@")
        base, plus, token = local.partition("+")
        if plus and base == support_local and domain == support_domain and token:
            tokens.append(token)
    return tokens
