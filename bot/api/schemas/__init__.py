"""What the API takes and returns, one module per resource without a domain package of its
own; handoffs and conversations keep theirs with their domain (``bot/handoff/schemas.py``,
``bot/conversations/schemas.py``). Only ``*Public`` models leave the API."""
