"""The HTTP API of the service: one router per resource, gathered in ``main``."""
