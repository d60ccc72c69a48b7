"""The service's database plumbing, shared by every package that stores something.

``db.base`` holds the declarative ``Base`` every model registers on, with UTC-aware
timestamps; ``db.engine`` makes engines and sessions and runs a unit of work in a worker
thread. It imports no Kefu package: the knowledge base and the service both build on it.
The schema's migrations belong to the service (``bot.migrations``), which knows every table.
"""
