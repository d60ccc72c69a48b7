"""Email, the second channel of a conversation (docs/email.md): the outbox and what it sends,
the mail received, the reply token in the reply address."""
