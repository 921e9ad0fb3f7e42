"""Runs the workers as child processes, like an orchestrator would: each with a health port, restarted
if it dies, stopped with SIGTERM (graceful: it commits what it processed) on shutdown."""

import json
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from shared.config import Settings, env_for_workers
from shared.localstack import free_port

WORKERS = ("metering", "wallet", "notifications", "payments", "subscriptions", "scheduler", "api")
"""`api` serves HTTP on its health port: `Supervisor.api_url`."""


@dataclass
class WorkerProcess:
    name: str
    env: dict[str, str]
    log_path: Path
    health_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    _log: IO[bytes] | None = None

    def start(self) -> None:
        env = {**self.env, "HEALTH_PORT": str(self.health_port)}
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.name}"],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/health", timeout=2) as resp:
                return bool(json.load(resp).get("status") == "ok")
        except OSError:
            return False

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, *, kill: bool = False, timeout: float = 30) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


@dataclass
class Supervisor:
    settings: Settings
    logs_dir: Path
    names: tuple[str, ...] = WORKERS
    workers: dict[str, WorkerProcess] = field(default_factory=dict)

    def start(self, *, timeout: float = 90) -> None:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        env = env_for_workers(self.settings)
        for name in self.names:
            worker = WorkerProcess(name, env, self.logs_dir / f"{name}.log")
            worker.start()
            self.workers[name] = worker
        deadline = time.monotonic() + timeout
        pending = set(self.names)
        while pending and time.monotonic() < deadline:
            for name in list(pending):
                worker = self.workers[name]
                if not worker.alive():
                    raise RuntimeError(f"worker {name} exited; see {worker.log_path}")
                if worker.healthy():
                    pending.discard(name)
            time.sleep(0.2)
        if pending:
            raise TimeoutError(f"workers not healthy within {timeout}s: {', '.join(sorted(pending))}")

    @property
    def health_urls(self) -> dict[str, str]:
        """Worker name -> the base URL of its health and metrics endpoints."""
        return {name: f"http://127.0.0.1:{w.health_port}" for name, w in self.workers.items()}

    @property
    def api_url(self) -> str | None:
        api = self.workers.get("api")
        return f"http://127.0.0.1:{api.health_port}" if api else None

    def restart_dead(self) -> list[str]:
        restarted = []
        for worker in self.workers.values():
            if not worker.alive():
                worker.stop()
                worker.restarts += 1
                worker.start()
                restarted.append(worker.name)
        return restarted

    def stop(self) -> None:
        for worker in self.workers.values():
            if worker.process is not None and worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        for worker in self.workers.values():
            worker.stop()
