"""The embedded stack's ports: each server gets its own."""

import socket

import pytest

from shared import localstack


class _Offered:
    """A socket whose bind to port 0 gets the next port of a script, as the kernel may offer a port again."""

    ports: list[int] = []

    def __enter__(self) -> "_Offered":
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def bind(self, address: tuple[str, int]) -> None:
        self.port = _Offered.ports.pop(0)

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)


def test_a_port_offered_again_is_not_handed_out_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(localstack, "_handed_out", set())
    monkeypatch.setattr(socket, "socket", lambda *a, **k: _Offered())
    _Offered.ports = [50001, 50001, 50001, 50002, 50001, 50003]

    ports = [localstack.free_port() for _ in range(3)]

    assert ports == [50001, 50002, 50003]


def test_real_ports_handed_out_are_distinct_and_bindable() -> None:
    ports = [localstack.free_port() for _ in range(50)]

    assert len(set(ports)) == 50
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports[-1]))
