"""A SIGKILLed server's chat resumes on the next start, losing and duplicating nothing."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from coder_agents_jupyter.testing import reply, text, tool_call

TOKEN = "recovery-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A real ``jupyter server`` process with the extension, on a free port."""

    def __init__(self, tmp: Path, fake_url: str) -> None:
        self.root = tmp / "root"
        self.root.mkdir(exist_ok=True)
        self.config = tmp / "jupyter_server_config.json"
        self.config.write_text(
            json.dumps(
                {
                    "ServerApp": {"jpserver_extensions": {"coder_agents_jupyter": True}},
                    "CoderAgents": {
                        "db_url": f"sqlite:///{tmp / 'chats.db'}",
                        "providers": [
                            {
                                "name": "fake",
                                "type": "anthropic",
                                "base_url": fake_url,
                                "api_key_env": "FAKE_KEY",
                            }
                        ],
                        "models": [{"id": "fake-model", "provider": "fake", "default": True}],
                        "limits": {"heartbeat_seconds": 0.5},
                    },
                }
            )
        )
        self.log = tmp / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/coder-agents/api/v1"
        env = {
            **os.environ,
            "FAKE_KEY": "sk-recovery",
            "JUPYTER_CONFIG_DIR": str(self.root.parent / "cfg"),
        }
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
                f"--IdentityProvider.token={TOKEN}",
                f"--ServerApp.root_dir={self.root}",
                f"--config={self.config}",
            ],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if self.get("models") is not None:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("server did not start:\n" + self.log.read_text()[-3000:])

    def get(self, path: str) -> Any:
        r = httpx.get(f"{self.url}/{path}", headers={"Authorization": f"token {TOKEN}"})
        r.raise_for_status()
        return r.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        r = httpx.post(f"{self.url}/{path}", json=body, headers={"Authorization": f"token {TOKEN}"})
        r.raise_for_status()
        return r.json()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def wait(self, chat_id: str, until: Any, timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = until(chat_id)
            if found:
                return found
            time.sleep(0.1)
        raise AssertionError(f"timed out; chat is {self.get(f'chats/{chat_id}')}")


@pytest.fixture
def server(tmp_path: Path, fake_llm):  # type: ignore[no-untyped-def]
    srv = Server(tmp_path, fake_llm.base_url)
    yield srv
    if srv.proc and srv.proc.poll() is None:
        srv.proc.terminate()
        srv.proc.wait(timeout=20)


@pytest.mark.slow
def test_sigkill_during_tool_call_resumes_on_restart(server: Server, fake_llm) -> None:
    fake_llm.script(
        "kill",
        [
            reply(
                text("Running the long step."),
                tool_call("execute", {"command": "sleep 20", "timeout_seconds": 60}),
            ),
            reply(text("Resumed after the restart.")),
        ],
    )
    server.start()
    chat = server.post("chats", {"prompt": "Do the long step #kill"})

    def tool_running(chat_id: str) -> bool:
        msgs = server.get(f"chats/{chat_id}/messages")
        return any(b["type"] == "tool_call" for m in msgs for b in m["content"])

    server.wait(chat["id"], tool_running)
    server.kill()
    server.start()

    def finished(chat_id: str) -> Any:
        c = server.get(f"chats/{chat_id}")
        return c if c["status"] in ("waiting", "error") else None

    done = server.wait(chat["id"], finished)
    assert done["status"] == "waiting", done
    messages = server.get(f"chats/{chat['id']}/messages")
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert messages[0]["content"] == [{"type": "text", "text": "Do the long step #kill"}]
    result = messages[2]["content"][0]
    assert result["is_error"] and "restarted" in result["content"]
    assert messages[3]["content"][0]["text"] == "Resumed after the restart."
    assert len(fake_llm.requests_for("kill")) == 2
