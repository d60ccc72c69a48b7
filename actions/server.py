"""The action server: rasa_sdk's app over these actions, answering only the caller that brings
the service token (Rasa sends it from endpoints.yml), on loopback.

``KEFU_SERVICE_TOKEN=… .venv-rasa/bin/python -m actions.server --port 5055`` (bot/stack.py
starts it so). The token comes from the environment, never an argument ``ps`` would show.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import socket
import sys
from typing import Any

from rasa_sdk import utils
from rasa_sdk.endpoint import create_app
from rasa_sdk.plugin import plugin_manager
from sanic import response
from sanic.exceptions import InvalidUsage

from actions.request_id import remember, tracker_in, tracker_of_call
from tracing.logs import JsonFormatter, RequestContext

log = logging.getLogger(__name__)

# The stack's and the service's health checks; every other route runs or lists the actions.
OPEN_PATHS = frozenset({"/health"})


def carries_token(authorization: str | None, token: str) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time."""
    scheme, _, credentials = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(
        credentials.strip().encode(), token.encode()
    )


def create_action_server(token: str, actions_package: str = "actions") -> Any:
    """rasa_sdk's Sanic app (no CORS: no browser calls it) refusing, with 401, any request but
    the health check that does not carry ``token``."""
    if not token:
        raise ValueError("the action server needs the service token")
    app = create_app(actions_package, cors_origins=None)

    @app.on_request
    async def require_service_token(request: Any) -> Any:
        if request.path in OPEN_PATHS or carries_token(request.headers.get("Authorization"), token):
            return None
        return response.json({"error": "missing or wrong service token"}, status=401)

    @app.on_request
    async def remember_request_id(request: Any) -> None:
        # The handler runs in this task after the middleware: the action sees what is set here.
        remember(_tracker_of(request) if request.path == "/webhook" else None)

    return app


def _tracker_of(request: Any) -> Any:
    """The action call's tracker. An uncompressed body is parsed by Sanic once, and rasa_sdk's
    webhook reads the same parse (``request.json`` is cached); a deflated one is parsed here."""
    encoding = request.headers.get("Content-Encoding")
    if encoding == "deflate":
        return tracker_of_call(request.body, encoding)
    try:
        call = request.json
    except InvalidUsage:  # not JSON: rasa_sdk answers that itself
        return None
    return tracker_in(call)


def use_request_context(json_lines: bool) -> None:
    """Every log line knows the request id and conversation of the action call it is about;
    with ``json_lines`` (KEFU_LOG_FORMAT=json) each is one JSON object, as the service's are."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(RequestContext())
        if json_lines:
            handler.setFormatter(JsonFormatter())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Kefu's action server (rasa_sdk)")
    parser.add_argument("--interface", default="127.0.0.1", help="only loopback by default")
    parser.add_argument("--port", type=int, default=5055)
    parser.add_argument(
        "--fd",
        type=int,
        help="serve a listening socket inherited from the stack (several action servers share "
        "its port; the kernel hands each connection to one of them) instead of --port",
    )
    args = parser.parse_args(argv)
    # The action server is its own process; this is where it reads its settings (see
    # actions/clients/kefu_service.py for the rest).
    token = os.environ.get("KEFU_SERVICE_TOKEN", "")
    if not token:
        sys.exit("KEFU_SERVICE_TOKEN is not set: the action server answers only with it")
    utils.configure_colored_logging(os.environ.get("LOG_LEVEL", "INFO"))
    utils.update_sanic_log_level()
    use_request_context(json_lines=os.environ.get("KEFU_LOG_FORMAT") == "json")
    app = create_action_server(token)
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    if args.fd is not None:
        shared = socket.socket(fileno=args.fd)
        log.info("action server on the shared socket %s (service token required)", args.fd)
        app.run(sock=shared, access_log=False)
        return
    log.info("action server on http://%s:%d (service token required)", args.interface, args.port)
    app.run(args.interface, args.port, workers=utils.number_of_sanic_workers(), access_log=False)


if __name__ == "__main__":
    main()
