"""How the server behaves with no provider, in demo mode, with a local server, and with a
bad config."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from coder_agents_jupyter import local_servers
from coder_agents_jupyter.testing import reply

BASE = {"ServerApp": {"jpserver_extensions": {"coder_agents_jupyter": True}}}


@pytest.fixture
def no_keys(monkeypatch):  # type: ignore[no-untyped-def]
    for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(local_servers, "CANDIDATES", [])


@pytest.fixture
def jp_server_config(request, tmp_path):  # type: ignore[no-untyped-def]
    extra = getattr(request, "param", {})
    return {**BASE, "CoderAgents": {"db_url": f"sqlite:///{tmp_path / 'c.db'}", **extra}}


async def test_no_provider_says_how_to_add_one(api, no_keys) -> None:
    status, models = await api.call("GET", "models")
    assert status == 200 and models == []
    providers = await api.ok("GET", "providers")
    assert "ANTHROPIC_API_KEY" in providers["hint"] and "--demo" in providers["hint"]
    status, body = await api.call("POST", "chats", {"prompt": "hello"})
    assert status == 409 and "c.CoderAgents.providers" in body["error"]["message"]


@pytest.mark.parametrize("jp_server_config", [{"demo": True}], indirect=True)
async def test_demo_mode_runs_a_labelled_scripted_chat(api, no_keys, jp_root_dir: Path) -> None:
    models = await api.ok("GET", "models")
    assert [(m["id"], m["display_name"], m["default"]) for m in models] == [
        ("demo", "Demo (scripted, no AI)", True)
    ]
    chat = await api.chat("Show me around")
    done = await api.wait(chat["id"])
    assert done["status"] == "waiting", done["error"]
    assert "scripted, no AI" in (jp_root_dir / "DEMO.md").read_text()
    messages = await api.messages(chat["id"])
    assert "demo model" in json.dumps(messages[1]["content"])
    assert [m["role"] for m in messages][-1] == "assistant"


async def test_local_openai_compatible_server_is_found(api, no_keys, fake_llm, monkeypatch) -> None:
    fake_llm.script("llama3", [reply()])
    monkeypatch.setattr(local_servers, "CANDIDATES", [("ollama", fake_llm.openai_base_url)])
    # The server is configured at start-up, so look at what discover() feeds it.
    providers, models = local_servers.discover()
    assert providers[0]["base_url"] == fake_llm.openai_base_url
    assert "ollama/llama3" in [m["id"] for m in models]
    assert sum(m["default"] for m in models) == 1


def test_bad_config_stops_the_server_with_one_clear_line(tmp_path: Path) -> None:
    config = tmp_path / "jupyter_server_config.json"
    config.write_text(
        json.dumps(
            {
                **BASE,
                "CoderAgents": {
                    "providers": [{"name": "a", "type": "anthropic"}],
                    "models": [{"id": "m", "provider": "missing"}],
                },
            }
        )
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter_server",
            "--no-browser",
            "--allow-root",
            "--port=0",
            f"--config={config}",
            f"--ServerApp.root_dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if "invalid configuration" in ln]
    assert len(lines) == 1, proc.stderr[-2000:]
    assert "c.CoderAgents.models[0].provider" in lines[0] and "'missing'" in lines[0]
