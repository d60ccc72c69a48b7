"""Email, both ways: the outbox that sends, the inbox that reads (docs/email.md)."""
