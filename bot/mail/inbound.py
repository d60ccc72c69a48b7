"""A mail a customer sent, read from its raw bytes: who wrote, what they wrote (and what the bot
should read of it), what it threads to, what it carries, and whether Kefu may answer it at all.

Pure: no I/O, no database. ``read_mail`` never raises on what a sender can put in a mail; a
mail it cannot read comes back ``rejected`` with a reason, one Kefu must not answer (a bounce,
an auto-reply, a list, our own mail) comes back ``ignored`` with a reason. Attachments are
listed (name, type, size), never decoded further, opened or run. docs/email.md says why each
rule is there.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import re
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import default as default_policy
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser
from typing import Literal

from bot.mail.compose import header_text
from contact.email import InvalidEmailError, customer_email

log = logging.getLogger(__name__)

MailStatus = Literal["accepted", "ignored", "rejected"]

# The mail_inbox columns these go into (migration 0013).
MAX_MESSAGE_ID_CHARS = 998
MAX_REASON_CHARS = 64
MAX_SUBJECT_CHARS = 998
# More than this many attachments are counted, not listed (a mail with thousands of parts).
MAX_LISTED_ATTACHMENTS = 50
# A mail nested deeper than this is not looked into (a MIME bomb of nested multiparts).
MAX_DEPTH = 10

# Charsets mail declares that Python names otherwise, or that senders use for a superset:
# mail labelled GB2312 is written by clients that use GBK's extra characters (GB18030 is the
# superset of both); Big5 mail from Hong Kong uses HKSCS; Korean mail says ks_c_5601.
CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "ks_c_5601-1987": "cp949",
    "iso-8859-1": "cp1252",  # what Windows clients write under that label
    "us-ascii": "utf-8",  # a superset, and clients that say ASCII send UTF-8 anyway
    "unknown-8bit": "utf-8",
    "x-unknown": "utf-8",
}
# Tried in turn on text whose charset is missing or unknown: strict UTF-8 rarely decodes what
# is not UTF-8; then GB18030 (the Chinese customers' clients); cp1252 decodes any byte.
FALLBACK_CHARSETS = ("utf-8", "gb18030", "cp1252")


@dataclass(frozen=True)
class Attachment:
    """A file attached to a mail, as the agent sees it listed: never opened, never served."""

    name: str
    content_type: str
    size: int

    def as_json(self) -> dict[str, str | int]:
        return {"name": self.name, "content_type": self.content_type, "size": self.size}


@dataclass(frozen=True)
class ParsedMail:
    """One mail as Kefu reads it.

    ``text`` is the whole text of the mail (what the agent can read); ``new_text`` is what the
    customer wrote this time, without the quoted history and the signature (what the bot reads).
    ``recipients`` are every address it was sent to (To, Cc and the delivery headers), where a
    reply token may be. ``status``/``reason``: accepted, or ignored / rejected and why.
    """

    message_id: str
    status: MailStatus
    reason: str | None = None
    from_address: str | None = None
    from_name: str = ""
    subject: str = ""
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()
    text: str = ""
    new_text: str = ""
    attachments: tuple[Attachment, ...] = ()
    size_bytes: int = 0
    defects: tuple[str, ...] = field(default=())

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """The Message-IDs this mail answers, nearest first (In-Reply-To, then References
        from the last, which is the parent, back to the thread's first mail)."""
        ids = ([self.in_reply_to] if self.in_reply_to else []) + list(reversed(self.references))
        return tuple(dict.fromkeys(ids))


def read_mail(
    raw: bytes, own_addresses: tuple[str, ...] = (), max_bytes: int | None = None
) -> ParsedMail:
    """The mail in ``raw``, never an exception. ``own_addresses``: the support address(es);
    mail from one of them (or from a plus-address of one) is ignored, which stops a loop
    through our own outbox. ``max_bytes``: a larger mail is rejected unread."""
    size = len(raw)
    fallback_id = synthetic_message_id(raw)
    if max_bytes is not None and size > max_bytes:
        return ParsedMail(fallback_id, "rejected", "too_large", size_bytes=size)
    try:
        parsed = BytesParser(policy=default_policy).parsebytes(raw)
    except Exception as error:  # the parser is lenient; this is a bug in it, not in our code
        log.warning("mail not parsed: %r", error)
        return ParsedMail(fallback_id, "rejected", _reason("malformed", error), size_bytes=size)
    try:
        return _read(parsed, fallback_id, size, own_addresses)
    except Exception as error:  # a header or part the email package chokes on
        log.warning("mail %s not readable: %r", fallback_id, error)
        message_id = _message_id(parsed) or fallback_id
        return ParsedMail(message_id, "rejected", _reason("malformed", error), size_bytes=size)


def synthetic_message_id(raw: bytes) -> str:
    """A Message-ID for a mail without one: the same bytes read twice get the same id, so
    the inbox's dedupe holds for them too."""
    return f"<{hashlib.sha256(raw).hexdigest()[:40]}@no-message-id.kefu.invalid>"


def _reason(kind: str, error: BaseException) -> str:
    return f"{kind}: {type(error).__name__}"[:MAX_REASON_CHARS]


def _read(
    parsed: EmailMessage, fallback_id: str, size: int, own_addresses: tuple[str, ...]
) -> ParsedMail:
    message_id = _message_id(parsed) or fallback_id
    defects = tuple(type(d).__name__ for d in parsed.defects)
    from_name, from_raw = _from(parsed)
    try:
        from_address: str | None = customer_email(from_raw) if from_raw else None
    except InvalidEmailError:
        from_address = None
    # One line, as a header must be: "Re: " it heads every mail Kefu sends in this thread.
    subject = header_text(_clean(_header(parsed, "Subject")))[:MAX_SUBJECT_CHARS].rstrip()
    common = {
        "message_id": message_id,
        "from_address": from_address,
        "from_name": from_name,
        "subject": subject,
        "in_reply_to": _first_id(_header(parsed, "In-Reply-To")),
        "references": _ids(_header(parsed, "References")),
        "recipients": _recipients(parsed),
        "size_bytes": size,
        "defects": defects,
    }
    loop = loop_reason(parsed, from_raw, own_addresses)
    if loop is not None:
        return ParsedMail(status="ignored", reason=loop, **common)  # type: ignore[arg-type]
    if from_address is None:
        return ParsedMail(status="rejected", reason="no_valid_sender", **common)  # type: ignore[arg-type]
    text, attachments = _body(parsed)
    new_text = strip_reply(text)
    if not text and not attachments and defects:
        # A multipart without its boundary, a body without headers: nothing readable in it.
        return ParsedMail(status="rejected", reason="malformed: " + defects[0], **common)  # type: ignore[arg-type]
    return ParsedMail(
        status="accepted",
        text=text,
        new_text=new_text,
        attachments=tuple(attachments),
        **common,  # type: ignore[arg-type]
    )


# ---------------------------------------------------------------------------- headers


def _header(message: Message, name: str) -> str:
    """A header's value as text; a header the parser cannot read is read raw, never raised."""
    try:
        value = message.get(name)
    except Exception:
        values = message.get_all(name, failobj=[]) if hasattr(message, "get_all") else []
        value = values[0] if values else None
    if value is None:
        return ""
    try:
        return str(value)
    except Exception:
        return repr(value)


def _clean(text: str) -> str:
    """Text every database can store: no NUL, no lone surrogates (undecodable header bytes)."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


_MESSAGE_ID = re.compile(r"<([^<>\s]{1,990})>")
_BARE_MESSAGE_ID = re.compile(r"[^<>\s]{1,990}")


def _ids(value: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(f"<{m}>" for m in _MESSAGE_ID.findall(value)))


def _first_id(value: str) -> str | None:
    ids = _ids(value)
    return ids[0] if ids else None


def _message_id(message: Message) -> str | None:
    found = _first_id(_header(message, "Message-ID"))
    if found is None:
        # Some clients write it without angle brackets.
        bare = _header(message, "Message-ID").strip()
        # As in angle brackets: no space or line break (it goes into In-Reply-To headers).
        if _BARE_MESSAGE_ID.fullmatch(bare) and len(bare) < MAX_MESSAGE_ID_CHARS - 2:
            found = f"<{bare}>"
    return _clean(found) if found else None


def _from(message: Message) -> tuple[str, str]:
    """The sender's display name and address as written (Sender when From has none)."""
    for name in ("From", "Sender"):
        value = _header(message, name)
        if value:
            display, address = parseaddr(value)
            if address:
                return _clean(display), _clean(address)
    return "", ""


RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To")


def _recipients(message: Message) -> tuple[str, ...]:
    values: list[str] = []
    for name in RECIPIENT_HEADERS:
        try:
            values += [str(v) for v in message.get_all(name, failobj=[])]
        except Exception:
            continue
    addresses = [address.strip().lower() for _, address in getaddresses(values) if address]
    return tuple(dict.fromkeys(_clean(a) for a in addresses if "@" in a))


# ---------------------------------------------------------------------------- loops

_AUTOMATED_SENDERS = re.compile(
    r"^(mailer-daemon|postmaster|noreply|no-reply|do-not-reply|donotreply)([+@]|$)", re.I
)
_BULK_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}


def loop_reason(message: Message, from_address: str, own_addresses: tuple[str, ...]) -> str | None:
    """Why Kefu must not answer this mail (RFC 3834, and what real auto-responders send), or
    None. Answering any of these is how two robots mail each other forever."""
    auto_submitted = _header(message, "Auto-Submitted").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return "auto_submitted"
    if _header(message, "Precedence").strip().lower() in _BULK_PRECEDENCE:
        return "precedence_bulk"
    if _header(message, "List-Id") or _header(message, "List-Unsubscribe"):
        return "mailing_list"
    return_path = _header(message, "Return-Path").strip()
    if return_path.replace(" ", "") == "<>":
        return "bounce"
    if message.get_content_type() == "multipart/report":
        return "bounce"
    if _AUTOMATED_SENDERS.match(from_address):
        return "automated_sender"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autogenerated"):
        if _header(message, name):
            return "auto_reply"
    if _is_own(from_address, own_addresses):
        return "own_address"
    return None


def _is_own(address: str, own_addresses: tuple[str, ...]) -> bool:
    """The address is one of ours, or a plus-address of one (a reply token's)."""
    local, _, domain = address.lower().partition("@")
    base = local.split("+", 1)[0] + "@" + domain
    return any(base == own.lower() or address.lower() == own.lower() for own in own_addresses)


# ---------------------------------------------------------------------------- body


def _body(message: EmailMessage) -> tuple[str, list[Attachment]]:
    """The text to read (text/plain preferred, else HTML made text) and the attachments."""
    plain: list[str] = []
    html: list[str] = []
    attachments: list[Attachment] = []
    _walk(message, plain, html, attachments, depth=0)
    if any(p.strip() for p in plain):
        text = "\n\n".join(p for p in plain if p.strip())
    else:
        text = "\n\n".join(html_to_text(h) for h in html if h.strip())
    return _normalise(text), attachments


def _walk(
    part: Message,
    plain: list[str],
    html: list[str],
    attachments: list[Attachment],
    depth: int,
) -> None:
    if depth > MAX_DEPTH:
        return
    content_type = part.get_content_type()
    if part.is_multipart():
        payload = part.get_payload()
        if not isinstance(payload, list):
            return
        children: list[Message] = [c for c in payload if isinstance(c, Message)]
        if content_type == "multipart/alternative":
            # One of the alternatives: the plain one if any, else the richest the sender put last.
            chosen = _alternative(children)
            children = [chosen] if chosen is not None else []
        for child in children:
            _walk(child, plain, html, attachments, depth + 1)
        return
    if part.get_content_maintype() == "multipart":
        return  # a multipart whose boundary was never found: no part in it can be told apart
    disposition = (part.get_content_disposition() or "").lower()
    filename = _filename(part)
    if disposition == "attachment" or filename or not content_type.startswith("text/"):
        _list_attachment(part, filename, content_type, attachments)
        return
    if content_type == "text/plain":
        plain.append(decode_text(part))
    elif content_type == "text/html":
        html.append(decode_text(part))
    else:  # text/calendar, text/csv…: a file, even inline
        _list_attachment(part, filename, content_type, attachments)


def _alternative(children: list[Message]) -> Message | None:
    for wanted in ("text/plain", "text/html"):
        for child in children:
            if child.get_content_type() == wanted and decode_text(child).strip():
                return child
    for child in reversed(children):
        if child.is_multipart():  # multipart/related around the HTML
            return child
    return children[-1] if children else None


def _filename(part: Message) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:
        name = ""
    return _clean(str(name)).strip()


def _list_attachment(
    part: Message, filename: str, content_type: str, attachments: list[Attachment]
) -> None:
    if len(attachments) >= MAX_LISTED_ATTACHMENTS:
        return
    try:
        # Decoding the transfer encoding only, to know the size: the bytes are thrown away.
        payload = part.get_payload(decode=True)
        size = len(payload) if isinstance(payload, bytes) else 0
    except Exception:
        size = 0
    name = filename or ("message.eml" if content_type == "message/rfc822" else "unnamed")
    attachments.append(Attachment(name=name[:255], content_type=content_type[:127], size=size))


def decode_text(part: Message) -> str:
    """A text part decoded with its declared charset, else the first fallback that reads it
    (an unknown or lying charset never raises: the last fallback decodes any byte)."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return _clean(raw) if isinstance(raw, str) else ""
    declared = (part.get_content_charset() or "").strip().lower()
    charsets = [_known_charset(declared)] if declared else []
    for charset in [c for c in charsets if c] + list(FALLBACK_CHARSETS):
        try:
            return _clean(payload.decode(charset))
        except (UnicodeDecodeError, LookupError):
            continue
    return _clean(payload.decode("cp1252", "replace"))


def _known_charset(declared: str) -> str | None:
    name = CHARSET_ALIASES.get(declared, declared)
    try:
        codecs.lookup(name)
    except LookupError:
        log.info("mail part in unknown charset %r: read with a fallback", declared[:40])
        return None
    return name


def _normalise(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# ---------------------------------------------------------------------------- HTML


class _HtmlText(HTMLParser):
    """Text of an HTML mail as a person reads it: block elements on their own lines, quoted
    blocks ("blockquote", Gmail's and Yahoo's quote divs) prefixed "> " like a plain-text
    quote, so the same stripping reads both; script, style and head contents dropped."""

    SKIPPED = frozenset(
        {"script", "style", "head", "title", "template", "noscript", "object", "iframe"}
    )
    BLOCKS = frozenset({
        "p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table",
        "ul", "ol", "hr", "pre", "section", "article", "header", "footer",
    })  # fmt: skip
    QUOTE_CLASSES = ("gmail_quote", "yahoo_quoted", "moz-cite-prefix")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self.skipping: list[str] = []
        self.quote_depth = 0
        self.open_quotes: list[int] = []  # depth of the open elements that started a quote
        self.depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "hr", "img", "meta", "link", "input", "wbr"):
            if tag in ("br", "hr"):
                self._newline()
            return
        self.depth += 1
        if tag in self.SKIPPED:
            self.skipping.append(tag)
            return
        classes = " ".join(v or "" for k, v in attrs if k in ("class", "id"))
        if tag == "blockquote" or any(q in classes for q in self.QUOTE_CLASSES):
            self.quote_depth += 1
            self.open_quotes.append(self.depth)
        if tag in self.BLOCKS or tag == "blockquote":
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag in ("br", "hr", "img", "meta", "link", "input", "wbr"):
            return
        if self.skipping and self.skipping[-1] == tag:
            self.skipping.pop()
        if self.open_quotes and self.open_quotes[-1] == self.depth:
            self.open_quotes.pop()
            self.quote_depth -= 1
            self._newline()
        if tag in self.BLOCKS:
            self._newline()
        self.depth = max(0, self.depth - 1)

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        text = re.sub(r"\s+", " ", data)
        if not text.strip() and not self.lines[-1]:
            return
        if not self.lines[-1] and self.quote_depth:
            self.lines[-1] = "> " * self.quote_depth
            text = text.lstrip()
        self.lines[-1] += text

    def _newline(self) -> None:
        if self.lines[-1].strip(" >"):
            self.lines.append("")
        else:  # nothing was written on it: it starts again (with the quote depth of now)
            self.lines[-1] = ""

    def text(self) -> str:
        return _normalise("\n".join(line.strip() for line in self.lines))


def html_to_text(html: str) -> str:
    """The text of an HTML mail (never runs or fetches anything: only tags are read)."""
    parser = _HtmlText()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # the stdlib parser is forgiving; this is belt and braces
        return re.sub(r"<[^>]*>", " ", html)
    return parser.text()


# ---------------------------------------------------------------------------- stripping

# "On Mon, 1 Jan 2024 at 10:00, Jane <jane@example.com> wrote:" (Gmail, Apple Mail,
# Thunderbird), and the same in other languages; may be wrapped over two lines.
_ATTRIBUTION = re.compile(
    r"^(On\b.*\bwrote|Le\b.*\ba écrit|Am\b.*\bschrieb|El\b.*\bescribió|.*写道|.*寫道)\s*[:：]?\s*$",
    re.I,
)
_ATTRIBUTION_START = re.compile(r"^(On|Le|Am|El)\s", re.I)
# Outlook's and QQ Mail's forwarded/replied block: a delimiter line, or a header block.
_ORIGINAL_DELIMITER = re.compile(
    r"^\s*(-{2,}\s*(Original Message|Forwarded message|Reply message|原始邮件|原始郵件|转发的邮件)"
    r"\s*-{2,}"
    r"|_{10,}|Begin forwarded message:)\s*$",
    re.I,
)
_HEADER_FROM = re.compile(r"^\*?\s*(From|发件人|寄件者|De|Von)\s*\*?\s*[:：]", re.I)
_HEADER_NEXT = re.compile(
    r"^\*?\s*(Sent|Date|To|Subject|发送时间|日期|时间|收件人|主题|寄件日期|傳送時間|Envoyé|Gesendet)\s*\*?\s*[:：]",
    re.I,
)
_SIGNATURE_DELIMITER = re.compile(r"^--\s?$")
_MOBILE_SIGNATURE = re.compile(
    r"^(Sent from my \S.{0,40}|Sent from (Mail|Outlook|Yahoo Mail|Gmail)\b.{0,40}"
    r"|Get Outlook for \S.{0,30}|发自我的\s?\S.{0,20}|从我的\s?\S.{0,20}发送|来自\S.{0,20}客户端"
    r"|發自我的\s?\S.{0,20}|Envoyé de mon \S.{0,30}|Von meinem \S.{0,30} gesendet)$",
    re.I,
)


def strip_reply(text: str) -> str:
    """What the customer wrote this time: the text without quoted history ("> " lines and the
    line that introduces them, an Outlook or QQ Mail block of the original mail) and without
    the signature. Text written below a quote (bottom-posting, inline answers) is kept."""
    lines = text.split("\n")
    kept: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        if _SIGNATURE_DELIMITER.match(line) or _MOBILE_SIGNATURE.match(stripped):
            break
        if _ORIGINAL_DELIMITER.match(stripped):
            break
        if _HEADER_FROM.match(stripped) and _header_block_follows(lines, index):
            break
        attribution = _attribution_length(lines, index)
        if attribution:
            index += attribution
            if not _quote_follows(lines, index):
                break  # the history is not marked as a quote: all of it goes
            continue
        if stripped.startswith(">"):
            index += 1
            continue
        kept.append(line)
        index += 1
    return _normalise("\n".join(kept))


def _attribution_length(lines: list[str], index: int) -> int:
    """How many lines the "On … wrote:" at ``index`` takes (0 if none is there)."""
    first = lines[index].strip()
    if _ATTRIBUTION.match(first):
        return 1
    if _ATTRIBUTION_START.match(first) and index + 1 < len(lines):
        joined = first + " " + lines[index + 1].strip()
        if _ATTRIBUTION.match(joined):
            return 2
    return 0


def _quote_follows(lines: list[str], index: int) -> bool:
    for line in lines[index:]:
        if line.strip():
            return line.lstrip().startswith(">")
    return True


def _header_block_follows(lines: list[str], index: int) -> bool:
    """A "From:" line starts a quoted header block when "Sent:"/"Date:"/… follows it."""
    following = [line.strip() for line in lines[index + 1 : index + 4] if line.strip()]
    return any(_HEADER_NEXT.match(line) for line in following)
