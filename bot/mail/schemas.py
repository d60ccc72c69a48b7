"""What the agent console reads about mail: how a message went out by email."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, ValidationError

from bot.mail.inbound import MAX_LISTED_ATTACHMENTS, MAX_SUBJECT_CHARS
from bot.mail.models import OutboundMail
from contact.email import MAX_LENGTH, customer_email

log = logging.getLogger(__name__)

# What inbound mail keeps of a mail's text on its message (bot/chat/email_channel.py).
MAX_ORIGINAL_CHARS = 20_000


class MailDeliveryPublic(BaseModel):
    """A message's mail: queued (until ``next_attempt_at``), sent (accepted by the SMTP
    server at ``sent_at``), failed (given up, ``error`` says why) or cancelled (the widget
    showed the message first)."""

    status: Literal["queued", "sent", "failed", "cancelled"]
    to: str = Field(max_length=254)
    attempts: int
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    error: str | None = Field(default=None, max_length=500)

    @classmethod
    def of(cls, mail: OutboundMail) -> MailDeliveryPublic:
        return cls(
            status=mail.status,  # type: ignore[arg-type]
            to=mail.to_address,
            attempts=mail.attempts,
            next_attempt_at=mail.next_attempt_at if mail.status == "queued" else None,
            sent_at=mail.sent_at,
            error=mail.last_error if mail.status in ("queued", "failed") else None,
        )


class TranscriptCreate(BaseModel):
    """The widget's "Email me this conversation": the address, by the contact form's rule."""

    email: Annotated[
        str,
        Field(max_length=MAX_LENGTH, json_schema_extra={"format": "email"}),
        AfterValidator(customer_email),
    ]


class TranscriptQueuedPublic(BaseModel):
    """The transcript is in the outbox; it goes within seconds while the mail server is up."""

    status: Literal["queued"] = "queued"
    to: str = Field(max_length=MAX_LENGTH)


class TranscriptThrottledPublic(BaseModel):
    """429: too many transcripts, and which limit said so (``conversation``: 3 an hour for
    this conversation; ``address``: 5 a day to this address), for the widget to say the right
    sentence: a widget on another origin cannot read the Retry-After header."""

    detail: str = Field(max_length=200)
    limit: Literal["conversation", "address"]


class MailAttachmentPublic(BaseModel):
    """A file a customer's mail carried, listed for the agent: never stored, never served."""

    name: str = Field(max_length=255)
    content_type: str = Field(max_length=127)
    size: int = Field(ge=0)


class MailOriginalPublic(BaseModel):
    """The whole mail a customer message came from, for the agent: its sender, subject, whole
    text (quoted history and signature included) and the list of its attachments."""

    from_: str | None = Field(default=None, alias="from", max_length=MAX_LENGTH)
    subject: str = Field(default="", max_length=MAX_SUBJECT_CHARS)
    text: str = Field(default="", max_length=MAX_ORIGINAL_CHARS)
    attachments: list[MailAttachmentPublic] = Field(
        default_factory=list, max_length=MAX_LISTED_ATTACHMENTS
    )

    model_config = {"populate_by_name": True, "serialize_by_alias": True}

    @classmethod
    def of(cls, payload: dict[str, Any] | None) -> MailOriginalPublic | None:
        """The ``email`` a message's payload keeps, or None: a message typed in the widget, or
        a payload this version cannot read (logged, never a 500 for the whole handoff)."""
        kept = (payload or {}).get("email")
        if kept is None:
            return None
        try:
            return cls.model_validate(kept)
        except ValidationError as error:
            log.warning("a message's email payload is unreadable: %s", error.errors()[0]["msg"])
            return None
