"""Mail tests run against a real SMTP server (tests/servers/smtp.py) on loopback."""

from tests.servers.smtp import smtp_server, smtp_server_with_login

__all__ = ["smtp_server", "smtp_server_with_login"]
