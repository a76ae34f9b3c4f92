"""Admin policy: reasoning effort and prices per model, cost roll-up, and config edits that
apply to running chats without a restart."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coder_agents_jupyter.llm.types import Usage
from coder_agents_jupyter.testing import reply, text
from coder_agents_jupyter.testing.jupyter import JupyterProcess

PRICES = {"input": 3.0, "output": 15.0, "cache_read": 0.3, "cache_write": 3.75}


def policy(base_url: str, **changes: Any) -> dict[str, Any]:
    return {
        "providers": [
            {"name": "fake", "type": "anthropic", "base_url": base_url, "api_key_env": "FAKE_KEY"}
        ],
        "models": [
            {
                "id": "smart",
                "provider": "fake",
                "default": True,
                "prices": PRICES,
                "reasoning_effort": {"default": "low", "max": "high"},
            },
            {"id": "plain", "provider": "fake"},
        ],
        "system_prompt": "You are the first prompt.",
        "config_poll_seconds": 0.2,
        **changes,
    }


@pytest.fixture
def server(tmp_path: Path, fake_llm) -> Iterator[JupyterProcess]:  # type: ignore[no-untyped-def]
    srv = JupyterProcess(tmp_path, policy(fake_llm.base_url), env={"FAKE_KEY": "sk-policy"})
    srv.start()
    yield srv
    srv.stop()


def test_reasoning_effort_and_cost(server: JupyterProcess, fake_llm) -> None:
    usage = Usage(input_tokens=1000, output_tokens=200, cache_read_tokens=10_000)
    fake_llm.script("cost", [reply(text("one"), usage=usage), reply(text("two"), usage=usage)])
    models = {m["id"]: m for m in server.get("models")}
    assert models["smart"]["reasoning_efforts"] == ["none", "minimal", "low", "medium", "high"]
    assert models["smart"]["default_reasoning_effort"] == "low"
    assert models["plain"]["reasoning_efforts"] == []

    r = server.request("POST", "chats", {"prompt": "x", "reasoning_effort": "max"})
    assert r.status_code == 400 and "max" in r.json()["error"]["message"]
    r = server.request(
        "POST", "chats", {"prompt": "x", "model": "plain", "reasoning_effort": "low"}
    )
    assert r.status_code == 400

    chat = server.post("chats", {"prompt": "Think #cost"})
    server.wait_status(chat["id"])
    server.post(f"chats/{chat['id']}/messages", {"content": "harder", "reasoning_effort": "high"})
    done = server.wait_status(chat["id"])
    first, second = (r.body for r in fake_llm.requests_for("cost"))
    assert first["thinking"]["budget_tokens"] < second["thinking"]["budget_tokens"]
    # 1000 x $3 + 200 x $15 + 10000 x $0.30 per million = 9000 micro-dollars per call
    assert done["usage"]["cost_micros"] == 2 * 9000
    assert done["tree_usage"] == done["usage"]
    assert done["reasoning_effort"] == "high"


def test_policy_edits_apply_to_running_chats(server: JupyterProcess, fake_llm) -> None:
    fake_llm.script("edit", [reply(text("first")), reply(text("second"))])
    chat = server.post("chats", {"prompt": "Hello #edit", "model": "plain"})
    server.wait_status(chat["id"])

    # The admin removes the chat's model and rewrites the system prompt, with no restart
    new = policy(fake_llm.base_url, system_prompt="You are the edited prompt.")
    new["models"] = [m for m in new["models"] if m["id"] != "plain"]
    server.write_config(new)
    server.wait_for(lambda: [m["id"] for m in server.get("models")] == ["smart"], timeout=10)

    server.post(f"chats/{chat['id']}/messages", {"content": "again"})
    done = server.wait_status(chat["id"])
    assert done["model"] == "smart"
    second = fake_llm.requests_for("edit")[1].body
    assert "You are the edited prompt." in json.dumps(second["system"])
    assert "first prompt" not in json.dumps(second["system"])

    # A broken edit is refused and the last good policy stays
    server.config.write_text("{ not json")
    server.wait_for(lambda: "not reloaded" in server.log.read_text(), timeout=10)
    assert [m["id"] for m in server.get("models")] == ["smart"]
