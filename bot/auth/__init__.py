"""Staff accounts (agents, editors, admins): passwords, sessions, roles, login throttling."""
