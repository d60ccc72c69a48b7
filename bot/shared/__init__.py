"""State the service workers share when ``REDIS_URL`` is set (docs/scaling.md#redis)."""
