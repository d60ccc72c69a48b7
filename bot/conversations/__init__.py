"""Conversations and their transcripts: the service's own record of every message."""
