"""Sub-agents: a root chat runs explore and general children in parallel, waits for them,
messages one, and finishes; children are ordinary chats in the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from coder_agents_jupyter.testing import reply, text, tool_call


@pytest.fixture(params=["anthropic"])
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def child_ids(request: dict[str, Any]) -> list[str]:
    """The chat ids that spawn_agent returned earlier in this conversation."""
    ids = []
    for result in json.dumps(request["messages"]).split('\\"chat_id\\": \\"')[1:]:
        ids.append(result.split('\\"', 1)[0])
    return list(dict.fromkeys(ids))


async def test_root_runs_children_in_parallel(api, fake_llm, jp_root_dir: Path) -> None:
    (jp_root_dir / "README.md").write_text("# Project\n")
    for name in ("a", "b", "c"):
        fake_llm.script(
            f"explore-{name}",
            [
                reply(tool_call("read_file", {"path": "README.md"})),
                reply(text(f"Report {name}: the README has a title.")),
            ],
        )
    fake_llm.script(
        "builder",
        [
            reply(tool_call("spawn_agent", {"type": "explore", "prompt": "nested #x"})),
            reply(tool_call("write_file", {"path": "built.txt", "content": "built"})),
            reply(text("Report builder: wrote built.txt.")),
            reply(text("Report builder: also done the extra thing.")),
        ],
    )
    spawn = [
        tool_call(
            "spawn_agent",
            {"type": "explore", "prompt": f"Look around #explore-{n}", "title": f"explore {n}"},
        )
        for n in ("a", "b", "c")
    ]
    spawn.append(
        tool_call(
            "spawn_agent", {"type": "general", "prompt": "Build it #builder", "title": "builder"}
        )
    )
    fake_llm.script(
        "root",
        [
            reply(text("Starting four agents."), *spawn),
            lambda r: reply(tool_call("wait_agent", {"chat_ids": child_ids(r)})),
            lambda r: reply(
                tool_call(
                    "message_agent",
                    {"chat_id": child_ids(r)[3], "message": "Also do the extra thing."},
                )
            ),
            lambda r: reply(tool_call("wait_agent", {"chat_ids": [child_ids(r)[3]]})),
            reply(text("All four agents reported.")),
        ],
    )
    root = await api.chat("Coordinate the work #root")
    done = await api.wait(root["id"], timeout=60)
    assert done["status"] == "waiting", done["error"]

    children = sorted(done["children"], key=lambda c: c["title"])  # created concurrently
    assert [c["title"] for c in children] == ["builder", "explore a", "explore b", "explore c"]
    assert [c["agent_type"] for c in children] == ["general"] + ["explore"] * 3
    assert all(c["status"] == "waiting" and c["parent_id"] == root["id"] for c in children)
    assert all(c["usage"]["output_tokens"] > 0 for c in children)
    total = sum(c["usage"]["output_tokens"] for c in children) + done["usage"]["output_tokens"]
    assert done["tree_usage"]["output_tokens"] == total

    results = [
        b for m in await api.messages(root["id"]) if m["role"] == "tool" for b in m["content"]
    ]
    waited = json.loads(results[4]["content"])
    assert waited["timed_out"] is False and len(waited["finished"]) == 4
    reports = sorted(f["report"] for f in waited["finished"])
    assert reports[0].startswith("Report a") and reports[3].startswith("Report c")
    again = json.loads(results[6]["content"])
    assert again["finished"][0]["report"] == "Report builder: also done the extra thing."
    assert (jp_root_dir / "built.txt").read_text() == "built"

    builder = await api.messages(children[0]["id"])
    refused = next(b for m in builder if m["role"] == "tool" for b in m["content"])
    assert refused["is_error"] and "cannot start or manage agents" in refused["content"]
    explore_request = fake_llm.requests_for("explore-a")[0].body
    names = {t["name"] for t in explore_request["tools"]}
    assert "write_file" not in names and "spawn_agent" not in names and "read_file" in names
    assert "You are a sub-agent" in json.dumps(explore_request["system"])


async def test_stopping_the_parent_stops_its_children(api, fake_llm) -> None:
    fake_llm.script("slow-child", [reply(tool_call("execute", {"command": "sleep 30"}))])
    fake_llm.script(
        "parent",
        [
            reply(tool_call("spawn_agent", {"type": "general", "prompt": "Wait #slow-child"})),
            lambda r: reply(tool_call("wait_agent", {"chat_ids": child_ids(r)})),
        ],
    )
    root = await api.chat("Delegate #parent")
    for _ in range(200):
        chat = await api.ok("GET", f"chats/{root['id']}")
        if chat["children"] and chat["children"][0]["status"] == "running":
            break
        import asyncio

        await asyncio.sleep(0.05)
    await api.ok("POST", f"chats/{root['id']}/stop")
    stopped = await api.wait(root["id"], {"paused"}, timeout=15)
    child = await api.wait(stopped["children"][0]["id"], {"paused"}, timeout=15)
    assert child["status"] == "paused"
