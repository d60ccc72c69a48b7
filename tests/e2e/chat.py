"""A customer of the real stack, over HTTP or the WebSocket."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

REPLY_TIMEOUT_S = 30.0


@dataclass
class Customer:
    base_url: str
    language: str
    id: str = ""
    token: str = ""
    transcript: list[dict[str, Any]] = field(default_factory=list)

    def open(self) -> Customer:
        response = httpx.post(
            f"{self.base_url}/api/v1/conversations", json={"language": self.language}
        )
        response.raise_for_status()
        self.id, self.token = response.json()["id"], response.json()["token"]
        return self

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def say(self, text: str, payload: str | None = None) -> list[dict[str, Any]]:
        """Over HTTP: the bot's replies to one message."""
        body: dict[str, Any] = {"text": text, "client_message_id": str(uuid.uuid4())}
        if payload is not None:
            body["payload"] = payload
        response = httpx.post(
            f"{self.base_url}/api/v1/conversations/{self.id}/messages",
            json=body,
            headers=self.auth,
            timeout=REPLY_TIMEOUT_S,
        )
        response.raise_for_status()
        replies: list[dict[str, Any]] = response.json()["replies"]
        self.transcript += [response.json()["message"], *replies]
        return replies

    def press(self, reply: dict[str, Any], title_part: str) -> list[dict[str, Any]]:
        """Press the button of a reply whose title contains ``title_part``."""
        [button] = [b for b in reply["buttons"] if title_part in b["title"]]
        return self.say(button["title"], button["payload"])

    def transcript_from_server(self) -> list[dict[str, Any]]:
        response = httpx.get(
            f"{self.base_url}/api/v1/conversations/{self.id}/messages", headers=self.auth
        )
        response.raise_for_status()
        messages: list[dict[str, Any]] = response.json()["data"]
        return messages

    def socket(self, after: int = 0) -> ClientConnection:
        ws_url = self.base_url.replace("http://", "ws://")
        return connect(
            f"{ws_url}/api/v1/conversations/{self.id}/ws?token={self.token}&after={after}",
            open_timeout=10,
        )


def socket_say(ws: ClientConnection, text: str) -> list[dict[str, Any]]:
    """Over the WebSocket: send, then collect frames until the typing indicator goes off and
    the replies that follow it have arrived."""
    client_message_id = str(uuid.uuid4())
    ws.send(json.dumps({"type": "message", "text": text, "client_message_id": client_message_id}))
    frames: list[dict[str, Any]] = []
    typing_done = False
    while True:
        frame = json.loads(ws.recv(timeout=REPLY_TIMEOUT_S))
        frames.append(frame)
        if frame["type"] == "typing" and not frame["active"]:
            typing_done = True
        if typing_done and frame["type"] == "message" and frame["message"]["sender"] != "customer":
            # the replies are pushed back to back right after typing stops
            try:
                while True:
                    frames.append(json.loads(ws.recv(timeout=0.5)))
            except TimeoutError:
                return frames


def bot_messages(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        f["message"] for f in frames if f["type"] == "message" and f["message"]["sender"] == "bot"
    ]
