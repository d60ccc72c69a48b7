"""The reply token: which conversation a customer's mail answers, in a form nobody can forge.

A mail Kefu sends says ``Reply-To: support+<token>@domain``; the token is the conversation id
and an HMAC of it. The HMAC's key is derived from the service's secret for this purpose alone
(as the Rasa token is derived from the service token, bot/settings.py), so the token, which
travels in every reply and forward, never gives the widget's conversation token (an HMAC of the
id under the secret itself: bot/api/deps.py) nor lets anyone make a token for another
conversation.

The token is lower-case base32 (``a-z2-7``): mail systems may fold a local part's case, and
it stays within RFC 5321's 64 characters of a local part (42 for the token). It is not put in
the subject: the subject is the customer's to edit, and the address and the In-Reply-To and
References headers (Message-IDs Kefu made) are what clients keep (docs/email.md#threading).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

_PURPOSE = b"kefu: mail reply token"
_ID_CHARS = 26  # base32 of a UUID's 16 bytes, unpadded
_MAC_BYTES = 10  # 80 bits: a forger's chance per try is 2^-80
_MAC_CHARS = 16
TOKEN_CHARS = _ID_CHARS + _MAC_CHARS


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode().rstrip("=").lower()


def _mac(conversation_bytes: bytes, secret: str) -> str:
    return _b32(hmac.new(_key(secret), conversation_bytes, hashlib.sha256).digest()[:_MAC_BYTES])


def reply_token(conversation_id: str, secret: str) -> str:
    """The token of a conversation (its id is a UUID, as ConversationStore.open makes)."""
    raw = uuid.UUID(conversation_id).bytes
    return _b32(raw) + _mac(raw, secret)


def conversation_from_token(token: str, secret: str) -> str | None:
    """The conversation a token names, or None for anything forged, altered or malformed."""
    token = token.strip().lower()
    if len(token) != TOKEN_CHARS:
        return None
    try:
        raw = base64.b32decode(token[:_ID_CHARS].upper() + "======")
    except ValueError:  # binascii.Error: not base32
        return None
    # Canonical only: the id's last character has two spare bits, and a token differing there
    # is an altered one.
    if len(raw) != 16 or _b32(raw) != token[:_ID_CHARS]:
        return None
    if not hmac.compare_digest(_mac(raw, secret), token[_ID_CHARS:]):
        return None
    return str(uuid.UUID(bytes=raw))


def reply_address(support_address: str, conversation_id: str, secret: str) -> str:
    """``support+<token>@domain``: where the customer's reply to a conversation's mail goes."""
    local, _, domain = support_address.rpartition("@")
    return f"{local}+{reply_token(conversation_id, secret)}@{domain}"


def conversation_from_address(address: str, support_address: str, secret: str) -> str | None:
    """The conversation of a reply address (``support+<token>@domain``, any case), or None:
    another address, no token, or a forged one."""
    support_local, _, support_domain = support_address.lower().rpartition("@")
    local, _, domain = address.strip().lower().rpartition("@")
    base, plus, token = local.partition("+")
    if not plus or base != support_local or domain != support_domain:
        return None
    return conversation_from_token(token, secret)
