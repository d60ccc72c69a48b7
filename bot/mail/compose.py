"""What a mail says, and the message that carries it.

A mail's content is written once, as Markdown, when it is queued: Kefu's own wording (from
texts/customer.py, in the customer's language) with the conversation's texts filled in as
text, every Markdown character escaped, so a customer's ``<script>`` or ``**`` is shown as
typed. The HTML part is that Markdown rendered by kb.markdown (raw HTML escaped, only http(s)
and mailto links); the plain-text part is the same document with the texts as typed.

The headers are set when the mail is sent (``build_message``): From the company at the support
address, Reply-To the conversation's reply address (bot/mail/tokens.py), the Message-ID made at
queue time, In-Reply-To/References to thread it, Auto-Submitted on mails no person wrote.
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from bot.conversations.models import Message
from bot.mail.models import OutboundMail
from bot.mail.tokens import reply_address
from bot.settings import Settings
from kb.markdown import render_markdown
from texts import html_lang, language_or_fallback, say

# RFC 3834: mails no person wrote say so, and other robots (auto-replies, vacation notices)
# then stay silent. A bot's answer replies to a mail; the rest are unprompted.
AUTO_SUBMITTED = {
    "confirmation": "auto-generated",
    "rating_request": "auto-generated",
    "bot_answer": "auto-replied",
}
_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
# What may not stand in a header's value: every character str.splitlines() breaks a line at
# (CR, LF, VT, FF, \x1c-\x1e, U+0085, U+2028, U+2029; EmailMessage refuses a header holding one)
# and the other control characters (C0, DEL, C1).
_NOT_IN_A_HEADER = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


@dataclass(frozen=True)
class Letterhead:
    """Who mail comes from: the company at the support address; the secret that signs reply
    tokens; where the service's pages are (the article links)."""

    support_address: str
    company_name: str
    secret: str
    public_url: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Letterhead | None:
        if not settings.mail_from:
            return None
        return cls(
            settings.mail_from,
            settings.company_name,
            settings.secret_key,
            settings.public_url.rstrip("/"),
        )

    @property
    def domain(self) -> str:
        return self.support_address.rpartition("@")[2]

    def new_message_id(self) -> str:
        """A Message-ID nobody can guess (a reply quoting it is a reply to this mail)."""
        return f"<kefu.{secrets.token_urlsafe(18)}@{self.domain}>"

    def absolute(self, url: str) -> str:
        return url if re.match(r"^https?://", url) else f"{self.public_url}/{url.lstrip('/')}"


def header_text(text: str) -> str:
    """``text`` fit for one header line (a subject): each run of line breaks and control
    characters one space, so a customer's subject can always be answered ("Re: …")."""
    return _NOT_IN_A_HEADER.sub(" ", text).strip()


def escape_markdown(text: str) -> str:
    """Text that Markdown renders exactly as typed (CommonMark: any ASCII punctuation may be
    escaped with a backslash); raw HTML in it becomes visible text."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", text)


@dataclass
class MailDocument:
    """A mail's body built in two forms at once: Markdown (texts escaped) for the HTML part,
    and the same lines with the texts as typed for the plain part."""

    markdown: list[str] = field(default_factory=list)
    plain: list[str] = field(default_factory=list)

    def words(self, template: str, **values: str) -> MailDocument:
        """Kefu's own paragraph (Markdown allowed in the template) with ``values`` as text."""
        escaped = {k: escape_markdown(v) for k, v in values.items()}
        self.markdown.append(template.format(**escaped))
        self.plain.append(template.format(**values))
        return self

    def said(self, key: str, language: str, **values: str) -> MailDocument:
        """Kefu's own paragraph from the customers' catalogue, with ``values`` as text."""
        placeholders = {name: "{" + name + "}" for name in values}
        return self.words(say(key, language, **placeholders), **values)

    def text(self, text: str, quoted: bool = False) -> MailDocument:
        """Someone's message as typed: its line breaks kept, nothing in it interpreted."""
        paragraphs = [p for p in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()) if p]
        for paragraph in paragraphs or [""]:
            lines = paragraph.split("\n")
            # A trailing backslash is CommonMark's hard line break.
            markdown = "\\\n".join(escape_markdown(line.strip()) for line in lines)
            plain = "\n".join(line.rstrip() for line in lines)
            if quoted:
                markdown = "\n".join(f"> {line}" for line in markdown.split("\n"))
                plain = "\n".join(f"> {line}" for line in plain.split("\n"))
            self.markdown.append(markdown)
            self.plain.append(plain)
        return self

    def link(self, label: str, title: str, url: str) -> MailDocument:
        """A link: ``label`` (Kefu's words) then the title, linked; the URL itself in plain."""
        safe_url = url.replace("(", "%28").replace(")", "%29").replace(" ", "%20")
        self.markdown.append(f"{escape_markdown(label)} [{escape_markdown(title)}](<{safe_url}>)")
        self.plain.append(f"{label} {title}\n{url}")
        return self

    def rule(self) -> MailDocument:
        self.markdown.append("---")
        self.plain.append("--")
        return self

    def html(self, subject: str, language: str) -> str:
        body = render_markdown("\n\n".join(self.markdown))
        return (
            f'<!DOCTYPE html>\n<html lang="{html_lang(language)}">\n<head><meta charset="utf-8">'
            f"<title>{html.escape(subject)}</title></head>\n"
            '<body style="font-family: sans-serif; line-height: 1.5; max-width: 40em;">\n'
            f"{body}</body>\n</html>\n"
        )

    def text_part(self) -> str:
        return "\n\n".join(self.plain) + "\n"


@dataclass(frozen=True)
class MailContent:
    subject: str
    text: str
    html: str


def _content(subject: str, document: MailDocument, language: str) -> MailContent:
    return MailContent(subject, document.text_part(), document.html(subject, language))


def _articles(document: MailDocument, message: Message, letterhead: Letterhead, lang: str) -> None:
    for article in (message.payload or {}).get("articles", []):
        if isinstance(article, dict) and article.get("url") and article.get("title"):
            url = letterhead.absolute(str(article["url"]))
            document.link(say("mail_read_article", lang), str(article["title"]), url)


def confirmation(
    customer_texts: Sequence[str], language: str | None, letterhead: Letterhead
) -> MailContent:
    """ "We received your request", with what the customer wrote so far."""
    lang = language_or_fallback(language)
    company = letterhead.company_name
    document = MailDocument().said("mail_greeting", lang).said("mail_confirmation", lang)
    if customer_texts:
        document.words("**{label}**", label=say("mail_your_messages", lang))
        for text in customer_texts:
            document.text(text, quoted=True)
    document.said("mail_reply_hint", lang).said("mail_team", lang, company=company)
    return _content(say("mail_subject", lang, company=company), document, lang)


def reply(
    message: Message, language: str | None, letterhead: Letterhead, subject: str | None = None
) -> MailContent:
    """An agent's reply or the bot's answer: the message as written, its article links, and
    who wrote it. ``subject``: the thread's (an email conversation's, "Re: …")."""
    lang = language_or_fallback(language)
    company = letterhead.company_name
    document = MailDocument().text(message.text)
    _articles(document, message, letterhead, lang)
    agent = (message.payload or {}).get("agent_name")
    if message.sender == "agent" and agent:
        signature = say("mail_signature", lang, name="{name}", company="{company}")
        document.words("— " + signature, name=str(agent), company=company)
    else:
        document.words("— " + say("mail_team", lang, company="{company}"), company=company)
    document.rule().said("mail_reply_hint", lang)
    return _content(subject or say("mail_subject", lang, company=company), document, lang)


def _speaker(message: Message, lang: str) -> str:
    if message.sender == "customer":
        return say("mail_you", lang)
    if message.sender == "bot":
        return say("mail_assistant", lang)
    if message.sender == "agent":
        return str((message.payload or {}).get("agent_name") or say("mail_agent", lang))
    return say("mail_notice", lang)


def transcript(
    messages: Sequence[Message], language: str | None, letterhead: Letterhead
) -> MailContent:
    """The conversation as the customer saw it: who said what, when (UTC), as text."""
    lang = language_or_fallback(language)
    company = letterhead.company_name
    document = MailDocument().said("mail_greeting", lang)
    document.said("mail_transcript_intro", lang, company=company).rule()
    for message in messages:
        when = message.created_at.strftime("%Y-%m-%d %H:%M")
        document.words("**{speaker}** · {when}", speaker=_speaker(message, lang), when=when)
        document.text(message.text)
        _articles(document, message, letterhead, lang)
    document.rule().said("mail_team", lang, company=company)
    return _content(say("mail_subject_transcript", lang, company=company), document, lang)


def rating_request(language: str | None, letterhead: Letterhead) -> MailContent:
    """After an email conversation is resolved: how did we do (answered by replying 1–5)."""
    lang = language_or_fallback(language)
    company = letterhead.company_name
    document = MailDocument().said("mail_greeting", lang).said("mail_rating", lang)
    document.said("mail_team", lang, company=company)
    return _content(say("mail_subject_rating", lang, company=company), document, lang)


def build_message(mail: OutboundMail, letterhead: Letterhead, now: datetime) -> EmailMessage:
    """The message of an outbox row, as the SMTP server receives it: the same bytes' meaning
    on every attempt (the Message-ID is the row's)."""
    message = EmailMessage()
    message["From"] = formataddr((letterhead.company_name, letterhead.support_address))
    message["To"] = mail.to_address
    message["Reply-To"] = reply_address(
        letterhead.support_address, mail.conversation_id, letterhead.secret
    )
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = mail.message_id_header
    if mail.in_reply_to:
        message["In-Reply-To"] = mail.in_reply_to
    if mail.references_header:
        message["References"] = mail.references_header
    if mail.kind in AUTO_SUBMITTED:
        message["Auto-Submitted"] = AUTO_SUBMITTED[mail.kind]
    message["Content-Language"] = html_lang(mail.language)
    message.set_content(mail.body_text)
    message.add_alternative(mail.body_html, subtype="html")
    return message
