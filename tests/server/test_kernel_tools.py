"""The user's live kernel: offered only with consent, run by the client, results posted back."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from coder_agents_jupyter.testing import reply, text, tool_call

KERNEL_TOOLS = {"inspect_kernel", "run_in_kernel"}
NOTEBOOK = "analysis/explore.ipynb"


@pytest.fixture(params=["anthropic"])
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def extra_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    return dict(getattr(request, "param", {}))


@pytest.fixture
def jp_server_config(jp_server_config, extra_config):  # type: ignore[no-untyped-def]
    jp_server_config["CoderAgents"].update(extra_config)
    return jp_server_config


def tool_names(request: dict[str, Any]) -> set[str]:
    return {t["name"] for t in request.get("tools", [])}


def results(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for m in messages if m["role"] == "tool" for b in m["content"]]


async def ready_chat(api: Any, tag: str) -> dict[str, Any]:
    """A chat whose first turn is done and whose user lets it use the notebook's kernel."""
    chat = await api.chat(f"Look at my data #{tag}")
    await api.wait(chat["id"])
    patched = await api.ok("PATCH", f"chats/{chat['id']}", {"kernel": {"notebook": NOTEBOOK}})
    assert patched["kernel"] == {"notebook": NOTEBOOK}
    return chat  # type: ignore[no-any-return]


async def read_until(ws: Any, stop: Any) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    while True:
        raw = await asyncio.wait_for(ws.read_message(), timeout=30)
        assert raw is not None, "socket closed"
        frames.append(json.loads(raw))
        if stop(frames[-1]):
            return frames


async def test_offered_only_with_consent_and_not_run_in_plan_mode(
    api, fake_llm, jp_serverapp
) -> None:
    fake_llm.script("offer", [reply(text("hi"))] * 5)
    chat = await api.chat("Hello #offer")
    assert (await api.wait(chat["id"]))["kernel"] is None
    requests = fake_llm.requests_for("offer")
    assert not KERNEL_TOOLS & tool_names(requests[0].body)

    await api.ok("PATCH", f"chats/{chat['id']}", {"kernel": {"notebook": NOTEBOOK}})
    await api.ok("POST", f"chats/{chat['id']}/messages", {"content": "again"})
    await api.wait(chat["id"])
    second = fake_llm.requests_for("offer")[1].body
    assert KERNEL_TOOLS <= tool_names(second)
    assert NOTEBOOK in json.dumps(second["system"])

    # Plan mode: looking is fine, running is not.
    await api.ok("POST", f"chats/{chat['id']}/messages", {"content": "plan", "plan_mode": True})
    await api.wait(chat["id"])
    planning = tool_names(fake_llm.requests_for("offer")[2].body)
    assert "inspect_kernel" in planning and "run_in_kernel" not in planning

    # An admin turning the tools off wins over the chat's consent.
    (app,) = jp_serverapp.extension_manager.extension_apps["coder_agents_jupyter"]
    settings = app.runtime.settings
    await app.runtime.replace_settings(settings.model_copy(update={"kernel_tools": False}))
    await api.ok("POST", f"chats/{chat['id']}/messages", {"content": "off", "plan_mode": False})
    await api.wait(chat["id"])
    assert not KERNEL_TOOLS & tool_names(fake_llm.requests_for("offer")[3].body)
    await app.runtime.replace_settings(settings)

    # Taking the consent back removes them.
    done = await api.ok("PATCH", f"chats/{chat['id']}", {"kernel": None})
    assert done["kernel"] is None
    await api.ok("POST", f"chats/{chat['id']}/messages", {"content": "bye"})
    await api.wait(chat["id"])
    assert not KERNEL_TOOLS & tool_names(fake_llm.requests_for("offer")[4].body)


@pytest.mark.parametrize("extra_config", [{"kernel_tools": False}], indirect=True)
async def test_admins_can_turn_the_kernel_tools_off(api, fake_llm) -> None:
    fake_llm.script("off", [reply(text("hi"))])
    chat = await api.chat("Hello #off")
    await api.wait(chat["id"])
    status, body = await api.call(
        "PATCH", f"chats/{chat['id']}", {"kernel": {"notebook": NOTEBOOK}}
    )
    assert status == 409 and "kernel_tools" in body["error"]["message"]
    assert (await api.ok("GET", f"chats/{chat['id']}"))["kernel"] is None
    assert not KERNEL_TOOLS & tool_names(fake_llm.requests_for("off")[0].body)
    await api.ok("PATCH", f"chats/{chat['id']}", {"kernel": None})  # taking back is fine


async def test_inspect_round_trip_through_the_client(api, fake_llm, jp_ws_fetch) -> None:
    fake_llm.script(
        "inspect",
        [
            reply(text("ready")),
            reply(text("Let me look."), tool_call("inspect_kernel", {"names": ["df"]}, id="k1")),
            reply(text("df has 3 rows.")),
        ],
    )
    chat = await ready_chat(api, "inspect")
    ws = await jp_ws_fetch(
        "coder-agents", "api", "v1", "chats", chat["id"], "events", params={"after_seq": "0"}
    )
    await api.ok("POST", f"chats/{chat['id']}/messages", {"content": "what is df?"})
    frames = await read_until(ws, lambda f: f["type"] == "client_tool")
    event = frames[-1]
    assert event["tool_call_id"] == "k1" and event["name"] == "inspect_kernel"
    assert event["input"] == {"names": ["df"]} and event["notebook"] == NOTEBOOK

    blocked = await api.wait(chat["id"], {"requires_action"})
    assert blocked["awaiting"] == {
        "kind": "client_tool",
        "calls": [
            {
                "tool_call_id": "k1",
                "name": "inspect_kernel",
                "input": {"names": ["df"]},
                "notebook": NOTEBOOK,
            }
        ],
        "results": {},
    }
    content = json.dumps([{"name": "df", "type": "DataFrame", "shape": [3, 2]}])
    resumed = await api.ok(
        "POST", f"chats/{chat['id']}/tool-results", {"tool_call_id": "k1", "content": content}
    )
    assert resumed["status"] == "running"
    status, _ = await api.call(
        "POST", f"chats/{chat['id']}/tool-results", {"tool_call_id": "k1", "content": "again"}
    )
    assert status == 409

    done = await api.wait(chat["id"])
    assert done["status"] == "waiting" and done["awaiting"] is None
    (result,) = results(await api.messages(chat["id"]))
    assert result == {
        "type": "tool_result",
        "tool_call_id": "k1",
        "content": content,
        "is_error": False,
    }
    assert "DataFrame" in json.dumps(fake_llm.requests_for("inspect")[2].body["messages"])
    frames = await read_until(ws, lambda f: f["type"] == "status" and f["status"] == "waiting")
    assert any(f["type"] == "tool_result" and f["tool_call_id"] == "k1" for f in frames)
    ws.close()


async def test_tool_results_errors(api, fake_llm) -> None:
    fake_llm.script(
        "errs",
        [
            reply(text("ready")),
            reply(tool_call("run_in_kernel", {"code": "df.head()"}, id="r1")),
            reply(text("failed, I see.")),
        ],
    )
    chat = await ready_chat(api, "errs")
    path = f"chats/{chat['id']}/tool-results"
    status, body = await api.call("POST", path, {"tool_call_id": "r1", "content": "x"})
    assert status == 409 and "waits" in body["error"]["message"]

    await api.ok("POST", f"chats/{chat['id']}/messages", {"content": "show df"})
    blocked = await api.wait(chat["id"], {"requires_action"})
    assert blocked["awaiting"]["calls"][0]["input"] == {"code": "df.head()", "timeout_seconds": 30}
    status, _ = await api.call("POST", path, {"tool_call_id": "nope", "content": "x"})
    assert status == 404
    for bad in (
        {"tool_call_id": "r1"},
        {"tool_call_id": "r1", "content": "x", "extra": 1},
        {"tool_call_id": "r1", "content": 5},
        {"tool_call_id": "r1", "content": "x" * 1_000_001},
    ):
        status, body = await api.call("POST", path, bad)
        assert status == 400 and body["error"]["code"] == "bad_request", bad
    status, body = await api.call("POST", path, raw=b"{nope")
    assert status == 400
    error = "NameError: name 'df' is not defined"
    await api.ok("POST", path, {"tool_call_id": "r1", "content": error, "is_error": True})
    await api.wait(chat["id"])
    (result,) = results(await api.messages(chat["id"]))
    assert result["is_error"] and result["content"] == error


async def test_stop_while_the_client_runs_a_tool(api, fake_llm) -> None:
    fake_llm.script(
        "halt",
        [
            reply(text("ready")),
            reply(tool_call("run_in_kernel", {"code": "import time; time.sleep(999)"}, id="s1")),
        ],
    )
    chat = await ready_chat(api, "halt")
    await api.ok("POST", f"chats/{chat['id']}/messages", {"content": "go"})
    await api.wait(chat["id"], {"requires_action"})
    await api.ok("POST", f"chats/{chat['id']}/stop")
    stopped = await api.wait(chat["id"], {"paused"}, timeout=10)
    assert stopped["awaiting"] is None
    (result,) = results(await api.messages(chat["id"]))
    assert result["tool_call_id"] == "s1" and result["is_error"] and "stopped" in result["content"]
    status, _ = await api.call(
        "POST", f"chats/{chat['id']}/tool-results", {"tool_call_id": "s1", "content": "late"}
    )
    assert status == 409


async def test_a_step_mixing_workspace_and_kernel_calls(api, fake_llm) -> None:
    fake_llm.script(
        "mixed",
        [
            reply(text("ready")),
            reply(
                tool_call("execute", {"command": "echo from-workspace"}, id="m1"),
                tool_call("run_in_kernel", {"code": "print(1)", "timeout_seconds": 5}, id="m2"),
                tool_call("run_in_kernel", {"code": ""}, id="m3"),
            ),
            reply(text("both done")),
        ],
    )
    chat = await ready_chat(api, "mixed")
    await api.ok("POST", f"chats/{chat['id']}/messages", {"content": "both"})
    blocked = await api.wait(chat["id"], {"requires_action"})
    calls = blocked["awaiting"]["calls"]
    assert [c["tool_call_id"] for c in calls] == ["m2"]  # m3's arguments are invalid
    assert calls[0]["input"] == {"code": "print(1)", "timeout_seconds": 5}
    big = "k" * 200_000
    await api.ok("POST", f"chats/{chat['id']}/tool-results", {"tool_call_id": "m2", "content": big})
    await api.wait(chat["id"])
    first, second, third = results(await api.messages(chat["id"]))
    assert first["tool_call_id"] == "m1" and "from-workspace" in first["content"]
    assert second["tool_call_id"] == "m2" and not second["is_error"]
    assert "truncated" in second["content"] and len(second["content"]) < len(big)
    assert third["tool_call_id"] == "m3" and third["is_error"] and "code" in third["content"]


@pytest.mark.parametrize("extra_config", [{"tool_policy": {"run_in_kernel": "ask"}}], indirect=True)
async def test_an_approval_comes_before_the_client_runs_it(api, fake_llm) -> None:
    fake_llm.script(
        "asked",
        [
            reply(text("ready")),
            reply(tool_call("run_in_kernel", {"code": "df.describe()"}, id="a1")),
            reply(text("described")),
        ],
    )
    chat = await ready_chat(api, "asked")
    await api.ok("POST", f"chats/{chat['id']}/messages", {"content": "describe"})
    blocked = await api.wait(chat["id"], {"requires_action"})
    assert blocked["awaiting"]["kind"] == "approval"
    await api.ok(
        "POST",
        f"chats/{chat['id']}/approvals",
        {"tool_call_id": "a1", "decision": "allow_once"},
    )
    for _ in range(200):
        chat_now = await api.ok("GET", f"chats/{chat['id']}")
        if (chat_now["awaiting"] or {}).get("kind") == "client_tool":
            break
        await asyncio.sleep(0.05)
    assert chat_now["status"] == "requires_action"
    assert chat_now["awaiting"]["calls"][0]["tool_call_id"] == "a1"
    await api.ok(
        "POST", f"chats/{chat['id']}/tool-results", {"tool_call_id": "a1", "content": "count 3"}
    )
    assert (await api.wait(chat["id"]))["status"] == "waiting"
    (result,) = results(await api.messages(chat["id"]))
    assert result["content"] == "count 3"
