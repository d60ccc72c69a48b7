"""What the agent console reads about mail: how a message went out by email."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from bot.mail.models import OutboundMail
from contact.email import MAX_LENGTH, customer_email


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
