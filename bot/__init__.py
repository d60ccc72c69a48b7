"""Kefu's service: chat gateway, knowledge-base API, handoff queue and the ``kefu`` CLI."""
