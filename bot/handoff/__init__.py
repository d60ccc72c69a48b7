"""Handoff to human agents: the packet, priority, sentiment, the queue."""
