"""A real ``jupyter server`` process with the extension, for tests that restart or kill it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class JupyterProcess:
    """``jupyter server`` on a free loopback port, configured by a JSON file it owns.

    ``coder_agents`` is the ``CoderAgents`` section; ``write_config`` rewrites it while the
    server runs (the extension watches the file).
    """

    def __init__(
        self,
        folder: Path,
        coder_agents: dict[str, Any],
        env: dict[str, str] | None = None,
        token: str = "test-token",
    ) -> None:
        self.folder = folder
        self.root = folder / "root"
        self.root.mkdir(parents=True, exist_ok=True)
        self.config = folder / "jupyter_server_config.json"
        self.token = token
        self.env = {**os.environ, "JUPYTER_CONFIG_DIR": str(folder / "cfg"), **(env or {})}
        self.log = folder / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.write_config(coder_agents)

    def write_config(self, coder_agents: dict[str, Any]) -> None:
        section = {"db_url": f"sqlite:///{self.folder / 'chats.db'}", **coder_agents}
        tmp = self.config.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {
                    "ServerApp": {"jpserver_extensions": {"coder_agents_jupyter": True}},
                    "CoderAgents": section,
                }
            )
        )
        tmp.replace(self.config)

    def start(self, timeout: float = 60) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/coder-agents/api/v1"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter_server",
                "--no-browser",
                "--allow-root",
                f"--port={port}",
                "--ServerApp.port_retries=0",
                "--ServerApp.ip=127.0.0.1",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={self.root}",
                f"--config={self.config}",
            ],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "server exited:\n" + self.log.read_text()[-3000:]
            try:
                self.get("models")
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("server did not start:\n" + self.log.read_text()[-3000:])

    def request(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.url}/{path}",
            json=body,
            timeout=30,
            headers={"Authorization": f"token {self.token}"},
        )

    def get(self, path: str) -> Any:
        r = self.request("GET", path)
        r.raise_for_status()
        return r.json()

    def post(self, path: str, body: Any = None) -> Any:
        r = self.request("POST", path, body if body is not None else {})
        r.raise_for_status()
        return r.json()

    def wait_for(self, probe: Callable[[], T | None], timeout: float = 60) -> T:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = probe()
            if found:
                return found
            time.sleep(0.1)
        raise AssertionError("timed out:\n" + self.log.read_text()[-3000:])

    def wait_status(
        self, chat_id: str, statuses: tuple[str, ...] = ("waiting", "error"), timeout: float = 60
    ) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            chat = self.get(f"chats/{chat_id}")
            return chat if chat["status"] in statuses else None

        return self.wait_for(probe, timeout)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
