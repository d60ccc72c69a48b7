"""Canned replies over a real database: who sees and changes which, the placeholders refused
on save, and a reply filled in for a handoff (names, fallbacks, articles, language)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.auth.store import StaffUser
from bot.handoff.canned import (
    CannedReplies,
    CannedReplyConflictError,
    CannedReplyCreate,
    CannedReplyForbiddenError,
    CannedReplyInvalidError,
    CannedReplyNotFoundError,
    CannedReplyUpdate,
    Placeholders,
)
from bot.handoff.errors import HandoffForbiddenError, HandoffNotFoundError
from bot.handoff.models import Handoff
from kb.schemas import ArticleIn, ArticleStatus
from kb.store import ArticleStore
from tests.bot.conftest import Staff, open_conversation

REFUND = "Hi {customer_name}, I'm {agent_name}. See {article:refund-policy}."


@pytest.fixture
def replies(sessions: sessionmaker[Session]) -> CannedReplies:
    session = sessions()
    articles = ArticleStore(session)
    articles.upsert(
        ArticleIn(id="refund-policy", title="Refund policy", body="30 days.", language="en")
    )
    articles.upsert(
        ArticleIn(
            id="old-policy",
            title="Old policy",
            body="Gone.",
            language="en",
            status=ArticleStatus.ARCHIVED,
        )
    )
    session.commit()
    return CannedReplies(session)


def reply(shortcut: str = "refund", body: str = REFUND, **fields: object) -> CannedReplyCreate:
    return CannedReplyCreate.model_validate(
        {"shortcut": shortcut, "language": "en", "title": "Refund", "body": body} | fields
    )


def held_handoff(
    sessions: sessionmaker[Session], agent: StaffUser, customer_name: str | None
) -> int:
    conversation_id = open_conversation(sessions, "where is my refund")
    with sessions() as session:
        handoff = Handoff(
            conversation_id=conversation_id,
            status="assigned",
            reason="requested",
            agent_id=agent.id,
            customer_name=customer_name,
        )
        session.add(handoff)
        session.commit()
        return handoff.id


def test_placeholders_are_read_from_the_body() -> None:
    found = Placeholders.of("{customer_name} {article:a} {article:a} {order_id} {}")
    assert found.article_ids == ["a"]
    assert found.unknown == ["{order_id}", "{}"]


def test_an_agent_sees_their_own_and_the_shared_replies_only(
    replies: CannedReplies, staff: Staff
) -> None:
    replies.create(reply("mine"), staff.alice)
    replies.create(reply("bobs"), staff.bob)
    replies.create(reply("team", shared=True), staff.ada)
    assert [r.shortcut for r in replies.visible(staff.alice)] == ["mine", "team"]
    team = replies.visible(staff.alice)[1]
    assert (team.shared, team.mine) == (True, False)
    assert replies.visible(staff.ada)[0].mine  # the admin may edit the shared one


def test_the_list_filters_by_language_and_a_prefix_of_the_shortcut_or_title(
    replies: CannedReplies, staff: Staff
) -> None:
    replies.create(reply("refund"), staff.alice)
    replies.create(reply("refund", language="zh", title="退款"), staff.alice)
    replies.create(reply("hello", title="Greeting"), staff.alice)
    assert [r.language for r in replies.visible(staff.alice, "zh")] == ["zh"]
    assert [r.shortcut for r in replies.visible(staff.alice, "en", "ref")] == ["refund"]
    assert [r.shortcut for r in replies.visible(staff.alice, None, "greet")] == ["hello"]
    assert replies.visible(staff.alice, None, "%") == []  # a wildcard is a character


def test_only_admins_make_or_change_shared_replies(replies: CannedReplies, staff: Staff) -> None:
    with pytest.raises(CannedReplyForbiddenError, match="for admins"):
        replies.create(reply(shared=True), staff.alice)
    team = replies.create(reply(shared=True), staff.ada)
    with pytest.raises(CannedReplyForbiddenError, match="for admins to change"):
        replies.update(team.id, CannedReplyUpdate(title="Mine now"), staff.alice)
    with pytest.raises(CannedReplyForbiddenError):
        replies.delete(team.id, staff.bob)
    assert replies.update(team.id, CannedReplyUpdate(title="Refunds"), staff.ada).title == "Refunds"


def test_another_agents_reply_is_forbidden_and_an_unknown_one_not_found(
    replies: CannedReplies, staff: Staff
) -> None:
    mine = replies.create(reply(), staff.alice)
    with pytest.raises(CannedReplyForbiddenError, match="another agent's"):
        replies.update(mine.id, CannedReplyUpdate(title="x"), staff.bob)
    with pytest.raises(CannedReplyForbiddenError):
        replies.delete(mine.id, staff.ada)  # an admin has no say over personal ones
    with pytest.raises(CannedReplyNotFoundError, match="canned reply 999 not found"):
        replies.delete(999, staff.alice)
    replies.delete(mine.id, staff.alice)
    assert replies.visible(staff.alice) == []


def test_a_shortcut_is_unique_per_owner_and_language(replies: CannedReplies, staff: Staff) -> None:
    replies.create(reply(), staff.alice)
    replies.create(reply(), staff.bob)  # another agent's
    replies.create(reply(language="zh"), staff.alice)  # another language
    replies.create(reply(shared=True), staff.ada)
    with pytest.raises(CannedReplyConflictError, match="/refund is your canned reply in en"):
        replies.create(reply(), staff.alice)
    with pytest.raises(CannedReplyConflictError, match="a shared"):
        replies.create(reply(shared=True), staff.ada)
    other = replies.create(reply("other"), staff.alice)
    with pytest.raises(CannedReplyConflictError, match="/refund is your"):
        replies.update(other.id, CannedReplyUpdate(shortcut="refund"), staff.alice)


def test_unknown_placeholders_and_articles_are_refused_by_name(
    replies: CannedReplies, staff: Staff
) -> None:
    with pytest.raises(CannedReplyInvalidError, match=r"unknown placeholder \{order_id\}, \{x\}"):
        replies.create(reply(body="Order {order_id} {x}"), staff.alice)
    with pytest.raises(CannedReplyInvalidError, match="no published article old-policy, nope"):
        replies.create(reply(body="{article:old-policy} {article:nope}"), staff.alice)
    mine = replies.create(reply(), staff.alice)
    with pytest.raises(CannedReplyInvalidError, match="no published article nope"):
        replies.update(mine.id, CannedReplyUpdate(body="{article:nope}"), staff.alice)


def test_a_reply_is_rendered_with_the_names_and_the_articles_link(
    replies: CannedReplies, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    handoff_id = held_handoff(sessions, staff.alice, "Mei")
    mine = replies.create(reply(), staff.alice)
    rendered = replies.render_for(mine.id, handoff_id, staff.alice)
    assert rendered.text == "Hi Mei, I'm Alice. See Refund policy (/articles/refund-policy)."
    assert [a.model_dump() for a in rendered.articles] == [
        {"article_id": "refund-policy", "title": "Refund policy", "url": "/articles/refund-policy"}
    ]


@pytest.mark.parametrize(
    ("language", "greeting"), [("en", "Hi valued customer!"), ("zh", "Hi 尊敬的客户!")]
)
def test_an_unknown_customer_is_addressed_politely_in_the_replys_language(
    replies: CannedReplies,
    staff: Staff,
    sessions: sessionmaker[Session],
    language: str,
    greeting: str,
) -> None:
    handoff_id = held_handoff(sessions, staff.alice, None)
    mine = replies.create(reply(body="Hi {customer_name}!", language=language), staff.alice)
    assert replies.render_for(mine.id, handoff_id, staff.alice).text == greeting


def test_an_article_unpublished_since_stays_visible_as_its_placeholder(
    replies: CannedReplies, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    handoff_id = held_handoff(sessions, staff.alice, "Mei")
    mine = replies.create(reply(body="Read {article:refund-policy}"), staff.alice)
    ArticleStore(replies.session).set_status("refund-policy", ArticleStatus.ARCHIVED)
    replies.session.commit()
    rendered = replies.render_for(mine.id, handoff_id, staff.alice)
    assert (rendered.text, rendered.articles) == ("Read {article:refund-policy}", [])


def test_rendering_needs_the_handoff_held_by_the_caller_or_an_admin(
    replies: CannedReplies, staff: Staff, sessions: sessionmaker[Session]
) -> None:
    handoff_id = held_handoff(sessions, staff.alice, "Mei")
    team = replies.create(reply(shared=True), staff.ada)
    with pytest.raises(HandoffForbiddenError):
        replies.render_for(team.id, handoff_id, staff.bob)
    with pytest.raises(HandoffNotFoundError):
        replies.render_for(team.id, 999, staff.alice)
    assert "I'm Ada" in replies.render_for(team.id, handoff_id, staff.ada).text
    bobs = replies.create(reply("bobs"), staff.bob)
    with pytest.raises(CannedReplyForbiddenError):
        replies.render_for(bobs.id, handoff_id, staff.alice)
