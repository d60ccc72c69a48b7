"""Mail tests run against a real SMTP server (tests/servers/smtp.py) on loopback: the
``smtp_server`` fixtures are in tests/conftest.py."""
