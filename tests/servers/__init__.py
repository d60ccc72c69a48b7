"""Real servers on loopback in temporary folders (PostgreSQL, Redis, SMTP, IMAP), started by the
tests. The mail servers (smtp.py, imap.py) are also the mail benchmark's (bench/mail.py), so
those two modules hold no pytest: their fixtures are in tests/conftest.py."""
