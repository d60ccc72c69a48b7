"""The Redis harness itself: a real server, reachable, restartable on the same port."""

from __future__ import annotations

import socket

import pytest

from tests.servers.redis import RedisServer, flush


def _command(port: int, command: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as connection:
        connection.sendall(command)
        return connection.recv(256)


def test_the_server_answers_keeps_nothing_on_disk_and_comes_back_on_its_port() -> None:
    with RedisServer() as server:
        assert _command(server.port, b"SET k v\r\n").startswith(b"+OK")
        assert b"save\r\n$0\r\n" in _command(server.port, b"CONFIG GET save\r\n")
        server.stop()
        with pytest.raises(OSError):
            _command(server.port, b"PING\r\n")
        server.start()
        assert _command(server.port, b"PING\r\n").startswith(b"+PONG")
        assert _command(server.port, b"GET k\r\n") == b"$-1\r\n"  # nothing persisted
        assert not list(server.folder.glob("*.rdb"))
    assert not server.folder.exists()


def test_the_session_server_is_empty_for_each_test(redis_url: str) -> None:
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    assert _command(port, b"DBSIZE\r\n") == b":0\r\n"
    _command(port, b"SET left over\r\n")
    flush(redis_url)
    assert _command(port, b"DBSIZE\r\n") == b":0\r\n"
