"""What the handoff desk mails: the confirmation when a customer leaves an address with nobody
online, an agent's reply to a customer whose widget is closed, the rating request when an
email conversation is resolved. Queued in the outbox, in the desk's own transaction."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.conversations.hub import ConversationHub
from bot.conversations.models import Conversation
from bot.handoff.desk import HandoffDesk
from bot.handoff.presence import InProcessPresence
from bot.handoff.signals import EscalationSignals
from bot.mail.compose import Letterhead
from bot.mail.models import OutboundMail
from bot.mail.outbox import Outbox
from tests.bot.conftest import Staff, agent_console, open_conversation
from tests.bot.handoff.test_desk import escalate

LETTERHEAD = Letterhead("support@shop.test", "Shop", "k7Qz-2mVx_9pLr4TsY8uWn3oBc6eHd1fJg5", "")


@pytest.fixture
def mailing_desk(
    sessions: sessionmaker[Session], hub: ConversationHub, signals: EscalationSignals
) -> HandoffDesk:
    """The desk with an outbox that mails (and an agent's reply waits 60 s for the widget)."""
    outbox = Outbox(LETTERHEAD, timedelta(seconds=60))
    presence = InProcessPresence(timedelta(0))
    return HandoffDesk(sessions, hub, signals, presence=presence, outbox=outbox)


def outbox_rows(sessions: sessionmaker[Session], cid: str) -> list[OutboundMail]:
    with sessions() as session:
        query = select(OutboundMail).where(OutboundMail.conversation_id == cid)
        return list(session.scalars(query.order_by(OutboundMail.id)))


def test_an_address_left_with_nobody_online_is_confirmed_once(
    sessions: sessionmaker[Session], mailing_desk: HandoffDesk
) -> None:
    cid = open_conversation(sessions, "我的包裹一直没到", language="zh")
    escalate(mailing_desk, cid, language="zh", customer_email="jane@example.com")
    escalate(mailing_desk, cid, language="zh", customer_email="jane@example.com")  # said again
    [mail] = outbox_rows(sessions, cid)
    assert (mail.kind, mail.to_address, mail.status) == (
        "confirmation",
        "jane@example.com",
        "queued",
    )
    assert "Shop" in mail.subject and "请求" in mail.subject  # the customer's language
    assert "我的包裹一直没到" in mail.body_text
    with sessions() as session:
        assert session.get(Conversation, cid).contact_email == "jane@example.com"  # type: ignore[union-attr]
    # A new address is confirmed too.
    escalate(mailing_desk, cid, language="zh", customer_email="jane.doe@example.com")
    assert [m.to_address for m in outbox_rows(sessions, cid)][-1] == "jane.doe@example.com"


def test_no_confirmation_when_an_agent_can_take_it(
    sessions: sessionmaker[Session], mailing_desk: HandoffDesk, staff: Staff
) -> None:
    cid = open_conversation(sessions, "Help")
    with agent_console(mailing_desk, staff.alice):
        escalate(mailing_desk, cid, customer_email="jane@example.com")
    assert outbox_rows(sessions, cid) == []


def test_an_agents_reply_is_mailed_only_to_a_customer_not_in_the_widget(
    sessions: sessionmaker[Session],
    hub: ConversationHub,
    mailing_desk: HandoffDesk,
    staff: Staff,
) -> None:
    cid = open_conversation(sessions, "Help")
    handoff_id = escalate(mailing_desk, cid, customer_email="jane@example.com").handoff_id
    asyncio.run(mailing_desk.claim(handoff_id, staff.alice))
    with hub.subscribe(cid):  # the customer's widget is open
        asyncio.run(mailing_desk.reply(handoff_id, staff.alice, "Seen live"))
    message = asyncio.run(mailing_desk.reply(handoff_id, staff.alice, "Sent after you left"))
    kinds = [(m.kind, m.message_row_id) for m in outbox_rows(sessions, cid)]
    assert kinds == [("confirmation", None), ("agent_reply", message.id)]
    reply = outbox_rows(sessions, cid)[-1]
    assert "Sent after you left" in reply.body_text and "Alice" in reply.body_text
    assert reply.in_reply_to == outbox_rows(sessions, cid)[0].message_id_header  # threaded
    detail = asyncio.run(mailing_desk.detail(handoff_id, staff.alice))
    assert detail.deliveries[str(message.id)].status == "queued"
    assert detail.contact_email == "jane@example.com" and detail.channel == "widget"


def test_a_resolved_email_conversation_is_asked_for_a_rating_by_mail(
    sessions: sessionmaker[Session], mailing_desk: HandoffDesk, staff: Staff
) -> None:
    by_mail, in_widget = open_conversation(sessions, "Help"), open_conversation(sessions, "Hi")
    with sessions() as session:
        conversation = session.get(Conversation, by_mail)
        assert conversation is not None
        conversation.channel, conversation.contact_email = "email", "jane@example.com"
        session.commit()
    with agent_console(mailing_desk, staff.alice):
        for cid in (by_mail, in_widget):
            handoff_id = escalate(mailing_desk, cid).handoff_id
            asyncio.run(mailing_desk.claim(handoff_id, staff.alice))
            asyncio.run(mailing_desk.resolve(handoff_id, staff.alice))
    assert [m.kind for m in outbox_rows(sessions, by_mail)] == ["rating_request"]
    assert outbox_rows(sessions, in_widget) == []
