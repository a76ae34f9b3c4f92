"""Workspace templates: the agent finds one, builds a workspace from it (live build log),
works there; visibility, parameters, failures, a missing or lost workspace, git identity."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from coder_agents_jupyter.testing import reply, text, tool_call

SCRIPT = Path(__file__).parent / "scripts" / "provision.py"


@pytest.fixture
def machines(tmp_path: Path) -> Path:
    return tmp_path / "machines"


@pytest.fixture
def jp_server_config(jp_server_config, tmp_path, machines):  # type: ignore[no-untyped-def]
    jp_server_config["ServerApp"]["identity_provider_class"] = (
        "coder_agents_jupyter.testing.identity.TokenUsers"
    )
    jp_server_config["CoderAgents"].update(
        user_groups={"carol": ["data-team"]},
        default_workspace="none",
        templates=[
            {
                "name": "scratch",
                "description": "An empty local folder for quick experiments",
                "provisioner": {
                    "type": "local",
                    "base_dir": str(tmp_path / "scratch"),
                    "init": ["git init -q", "echo {label} > LABEL"],
                },
                "parameters": [
                    {"name": "label", "type": "string", "default": "none", "pattern": "[a-z]+"}
                ],
            },
            {
                "name": "gpu-box",
                "description": "Python data analysis on the shared GPU host",
                "provisioner": {
                    "type": "command",
                    "command": [sys.executable, str(SCRIPT), str(machines)],
                },
                "parameters": [
                    {
                        "name": "size",
                        "type": "string",
                        "default": "small",
                        "options": ["small", "huge"],
                    }
                ],
                "visible_to": {"users": ["alice"], "groups": ["data-team"]},
            },
        ],
    )
    return jp_server_config


@pytest.fixture(params=["anthropic"])
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def events_until_done(jp_ws_fetch: Any, chat_id: str, token: str) -> list[dict]:
    ws = await jp_ws_fetch(
        "coder-agents",
        "api",
        "v1",
        "chats",
        chat_id,
        "events",
        params={"after_seq": "0"},
        headers={"Authorization": f"token {token}"},
    )
    frames: list[dict[str, Any]] = []
    while not frames or frames[-1].get("status") not in ("waiting", "error"):
        raw = await asyncio.wait_for(ws.read_message(), timeout=30)
        assert raw is not None
        frames.append(json.loads(raw))
    ws.close()
    return frames


def results(messages: list[dict]) -> list[dict]:
    return [b for m in messages if m["role"] == "tool" for b in m["content"]]


async def test_agent_builds_a_workspace_from_a_template(
    api_as, fake_llm, jp_ws_fetch, jp_root_dir, machines
) -> None:
    alice = api_as("alice")
    fake_llm.script(
        "build",
        [
            reply(tool_call("execute", {"command": "pwd"})),
            reply(tool_call("list_templates", {"query": "gpu"})),
            reply(tool_call("read_template", {"name": "gpu-box"})),
            reply(tool_call("create_workspace", {"template": "gpu-box", "name": "analysis"})),
            reply(tool_call("create_workspace", {"template": "gpu-box"})),
            reply(tool_call("write_file", {"path": "notes.md", "content": "hello"})),
            reply(text("Done.")),
            # after the workspace is deleted, and after the chat moved to another one
            reply(tool_call("read_file", {"path": "notes.md"})),
            reply(text("It is gone.")),
            reply(tool_call("read_file", {"path": "LABEL"})),
            reply(text("Back.")),
        ],
    )
    chat = await alice.chat("Analyse on the GPU box #build")
    frames = await events_until_done(jp_ws_fetch, chat["id"], "user-alice")
    messages = await alice.messages(chat["id"])
    no_ws, listed, read, created, again, written = results(messages)
    assert no_ws["is_error"] and "call list_templates, then create_workspace" in no_ws["content"]
    assert json.loads(listed["content"])["recommended"] == "gpu-box"
    assert json.loads(read["content"])["parameters"][0]["options"] == ["small", "huge"]
    info = json.loads(created["content"])
    assert info["status"] == "ready" and info["kind"] == "local" and info["name"] == "analysis"
    assert "already has a workspace" in json.loads(again["content"])["note"]
    assert not written["is_error"]
    folder = Path(info["path"])
    assert (folder / "notes.md").read_text() == "hello"
    assert not (jp_root_dir / "notes.md").exists()
    progress = [f["text"] for f in frames if f["type"] == "tool_progress"]
    assert "machine ready" in progress
    ws = await alice.ok("GET", f"workspaces/{info['id']}")
    assert "machine ready" in ws["build_log"] and ws["template"] == "gpu-box"
    assert (await alice.ok("GET", f"chats/{chat['id']}"))["workspace_id"] == info["id"]
    assert "create" in (machines / "verbs.log").read_text()

    # Deleting it runs the admin script and the chat says so; another workspace fixes it
    status, _ = await alice.call("DELETE", f"workspaces/{info['id']}")
    assert status == 204 and "delete" in (machines / "verbs.log").read_text()
    await alice.ok("POST", f"chats/{chat['id']}/messages", {"content": "read it"})
    await alice.wait(chat["id"])
    lost = results(await alice.messages(chat["id"]))[-1]
    assert lost["is_error"] and "was deleted" in lost["content"]
    scratch = await alice.ok(
        "POST", "workspaces", {"template": "scratch", "parameters": {"label": "fresh"}}
    )
    ready = await wait_ready(alice, scratch["id"])
    assert ready["status"] == "ready" and "git init" in ready["build_log"]
    await alice.ok("PATCH", f"chats/{chat['id']}", {"workspace_id": scratch["id"]})
    await alice.ok("POST", f"chats/{chat['id']}/messages", {"content": "again"})
    await alice.wait(chat["id"])
    assert "fresh" in results(await alice.messages(chat["id"]))[-1]["content"]


async def wait_ready(api: Any, ws_id: str) -> dict[str, Any]:
    for _ in range(200):
        ws = await api.ok("GET", f"workspaces/{ws_id}")
        if ws["status"] != "provisioning":
            return ws  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)
    raise AssertionError("still provisioning")


async def test_visibility_and_parameters(api_as, fake_llm) -> None:
    bob, carol = api_as("bob"), api_as("carol")
    assert [t["name"] for t in await bob.ok("GET", "templates")] == ["scratch"]
    assert [t["name"] for t in await carol.ok("GET", "templates")] == ["scratch", "gpu-box"]
    status, _ = await bob.call("GET", "templates/gpu-box")
    assert status == 404
    status, body = await bob.call("POST", "workspaces", {"template": "gpu-box"})
    assert status == 404
    status, body = await bob.call(
        "POST", "workspaces", {"template": "scratch", "parameters": {"label": "NOT OK"}}
    )
    assert status == 400 and "must match" in body["error"]["message"]
    status, body = await bob.call(
        "POST", "workspaces", {"template": "scratch", "parameters": {"colour": "red"}}
    )
    assert status == 400 and "Unknown parameter" in body["error"]["message"]

    fake_llm.script(
        "peek",
        [
            reply(tool_call("list_templates", {})),
            reply(tool_call("create_workspace", {"template": "gpu-box"})),
            reply(text("ok")),
        ],
    )
    chat = await bob.chat("Which templates? #peek")
    await bob.wait(chat["id"])
    listed, refused = results(await bob.messages(chat["id"]))
    assert [t["name"] for t in json.loads(listed["content"])["templates"]] == ["scratch"]
    assert refused["is_error"] and "no template named 'gpu-box'" in refused["content"]


async def test_failed_build_returns_its_log(api_as, fake_llm, machines) -> None:
    carol = api_as("carol")
    fake_llm.script(
        "fail",
        [
            reply(
                tool_call(
                    "create_workspace", {"template": "gpu-box", "parameters": {"size": "huge"}}
                )
            ),
            reply(text("It failed.")),
        ],
    )
    chat = await carol.chat("Big machine please #fail")
    await carol.wait(chat["id"])
    failed = results(await carol.messages(chat["id"]))[0]
    assert failed["is_error"]
    assert "exit code 3" in failed["content"] and "no capacity" in failed["content"]
    ws = (await carol.ok("GET", "workspaces"))[0]
    assert ws["status"] == "failed" and "no capacity" in ws["build_log"]


async def test_commits_carry_the_users_identity(api_as, fake_llm) -> None:
    dave = api_as("dave")
    scratch = await dave.ok("POST", "workspaces", {"template": "scratch"})
    await wait_ready(dave, scratch["id"])
    fake_llm.script(
        "git",
        [
            reply(
                tool_call(
                    "execute",
                    {
                        "command": "git commit -q --allow-empty -m agent && "
                        "git log -1 --format='%an <%ae> / %cn <%ce>'"
                    },
                )
            ),
            reply(text("Committed.")),
        ],
    )
    chat = await dave.chat("Commit #git", workspace_id=scratch["id"])
    await dave.wait(chat["id"])
    out = results(await dave.messages(chat["id"]))[0]["content"]
    assert "dave <dave@users.noreply.jupyter> / dave <dave@users.noreply.jupyter>" in out
