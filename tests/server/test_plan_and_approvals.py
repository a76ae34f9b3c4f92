"""Plan mode, questions and tool approvals, round-tripped through the REST API."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from coder_agents_jupyter.testing import reply, text, tool_call

PLAN = re.compile(r"\.coder-agents/plans/PLAN-[0-9a-f-]+\.md")


@pytest.fixture
def jp_server_config(jp_server_config):  # type: ignore[no-untyped-def]
    jp_server_config["CoderAgents"]["tool_policy"] = {"execute": "ask", "attach_file": "deny"}
    return jp_server_config


@pytest.fixture(params=["anthropic"])
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def plan_file(request: dict[str, Any]) -> str:
    found = PLAN.search(json.dumps(request))
    assert found, "the plan file path is in the system prompt"
    return found.group(0)


def tool_names(request: dict[str, Any]) -> set[str]:
    return {t["name"] for t in request.get("tools", [])}


def results(messages: list[dict]) -> list[dict]:
    return [b for m in messages if m["role"] == "tool" for b in m["content"]]


async def test_plan_mode_confines_writes_then_approval_restores_them(
    api, fake_llm, jp_root_dir: Path
) -> None:
    fake_llm.script(
        "plan",
        [
            reply(tool_call("write_file", {"path": "app.py", "content": "print('too early')"})),
            lambda r: reply(
                tool_call(
                    "write_file", {"path": plan_file(r), "content": "# Plan\n1. write app.py\n"}
                )
            ),
            lambda r: reply(
                text("Here is my plan."), tool_call("propose_plan", {"path": plan_file(r)})
            ),
            reply(tool_call("write_file", {"path": "app.py", "content": "print('hello')\n"})),
            reply(text("Implemented.")),
        ],
    )
    chat = await api.chat("Plan an app #plan", plan_mode=True)
    waiting = await api.wait(chat["id"])
    assert waiting["status"] == "waiting" and waiting["awaiting"]["kind"] == "plan"
    refused, planned, proposed = results(await api.messages(chat["id"]))
    assert refused["is_error"] and "plan mode" in refused["content"]
    assert not (jp_root_dir / "app.py").exists()
    assert not planned["is_error"] and proposed["display"]["plan"].startswith("# Plan")
    first = fake_llm.requests_for("plan")[0].body
    assert {"propose_plan", "ask_user_question"} <= tool_names(first)
    assert not {"process_signal", "attach_file"} & tool_names(first)

    status, body = await api.call("POST", f"chats/{chat['id']}/plan", {"decision": "revise"})
    assert status == 400 and "feedback" in body["error"]["message"]
    await api.ok("POST", f"chats/{chat['id']}/plan", {"decision": "approve"})
    done = await api.wait(chat["id"])
    assert done["status"] == "waiting" and done["plan_mode"] is False and done["awaiting"] is None
    assert (jp_root_dir / "app.py").read_text() == "print('hello')\n"
    implementing = fake_llm.requests_for("plan")[3].body
    assert "propose_plan" not in tool_names(implementing)
    assert "The plan is approved" in json.dumps(implementing["messages"])
    status, _ = await api.call("POST", f"chats/{chat['id']}/plan", {"decision": "approve"})
    assert status == 409


async def test_questions_round_trip(api, fake_llm) -> None:
    question = {
        "header": "Database",
        "question": "Which database should the app use?",
        "options": [
            {"label": "SQLite", "description": "a file"},
            {"label": "PostgreSQL", "description": "a server"},
        ],
    }
    fake_llm.script(
        "ask",
        [
            reply(tool_call("ask_user_question", {"questions": [question]})),
            reply(text("PostgreSQL it is.")),
        ],
    )
    chat = await api.chat("Design the storage #ask", plan_mode=True)
    waiting = await api.wait(chat["id"])
    awaiting = waiting["awaiting"]
    assert awaiting["kind"] == "question" and awaiting["questions"][0]["header"] == "Database"
    status, _ = await api.call(
        "POST", f"chats/{chat['id']}/answers", {"question_id": "nope", "answers": ["x"]}
    )
    assert status == 409
    status, _ = await api.call(
        "POST",
        f"chats/{chat['id']}/answers",
        {"question_id": awaiting["question_id"], "answers": ["a", "b"]},
    )
    assert status == 400
    await api.ok(
        "POST",
        f"chats/{chat['id']}/answers",
        {"question_id": awaiting["question_id"], "answers": ["PostgreSQL"]},
    )
    done = await api.wait(chat["id"])
    assert done["status"] == "waiting" and done["awaiting"] is None
    assert "Database: PostgreSQL" in json.dumps(fake_llm.requests_for("ask")[1].body)


async def test_approvals_allow_reject_and_allow_for_the_chat(api, fake_llm) -> None:
    fake_llm.script(
        "ok",
        [
            reply(tool_call("execute", {"command": "echo first"})),
            reply(tool_call("execute", {"command": "echo second"})),
            reply(tool_call("execute", {"command": "echo third"})),
            reply(tool_call("execute", {"command": "echo fourth"})),
            reply(text("Done.")),
        ],
    )
    chat = await api.chat("Run things #ok")
    decisions = [("allow_once", None), ("reject", "not that one"), ("allow_chat", None)]
    for decision, reason in decisions:
        blocked = await api.wait(chat["id"], {"requires_action"})
        call = blocked["awaiting"]["calls"][0]
        assert call["name"] == "execute"
        await api.ok(
            "POST",
            f"chats/{chat['id']}/approvals",
            {"tool_call_id": call["tool_call_id"], "decision": decision, "reason": reason},
        )
    done = await api.wait(chat["id"])  # the fourth call needed no approval
    assert done["status"] == "waiting" and done["tool_policy"]["grants"] == ["execute"]
    first, second, third, fourth = results(await api.messages(chat["id"]))
    assert "first" in first["content"] and not first["is_error"]
    assert second["is_error"] and "rejected this call: not that one" in second["content"]
    assert "third" in third["content"] and "fourth" in fourth["content"]
    assert "attach_file" not in tool_names(fake_llm.requests_for("ok")[0].body)
    status, _ = await api.call(
        "POST", f"chats/{chat['id']}/approvals", {"tool_call_id": "x", "decision": "allow_once"}
    )
    assert status == 409


async def test_stop_while_waiting_for_approval(api, fake_llm) -> None:
    fake_llm.script(
        "halt", [reply(text("Let me check."), tool_call("execute", {"command": "rm -rf build"}))]
    )
    chat = await api.chat("Clean up #halt")
    await api.wait(chat["id"], {"requires_action"})
    await api.ok("POST", f"chats/{chat['id']}/stop")
    stopped = await api.wait(chat["id"], {"paused"}, timeout=10)
    assert stopped["awaiting"] is None
    result = results(await api.messages(chat["id"]))[0]
    assert result["is_error"] and "stopped" in result["content"]


async def test_users_may_tighten_the_policy_per_chat(api, fake_llm, jp_root_dir) -> None:
    fake_llm.script(
        "tight",
        [
            reply(text("ok")),
            reply(tool_call("write_file", {"path": "x.txt", "content": "x"})),
            reply(text("written")),
        ],
    )
    chat = await api.chat("Hello #tight")
    await api.wait(chat["id"])
    await api.ok(
        "PATCH", f"chats/{chat['id']}", {"tool_policy": {"write_file": "ask", "execute": "auto"}}
    )
    await api.ok("POST", f"chats/{chat['id']}/messages", {"content": "write it"})
    blocked = await api.wait(chat["id"], {"requires_action"})
    assert blocked["awaiting"]["calls"][0]["name"] == "write_file"
    assert not (jp_root_dir / "x.txt").exists()
    await api.ok(
        "POST",
        f"chats/{chat['id']}/approvals",
        {"tool_call_id": blocked["awaiting"]["calls"][0]["tool_call_id"], "decision": "allow_once"},
    )
    assert (await api.wait(chat["id"]))["status"] == "waiting"
    assert (jp_root_dir / "x.txt").read_text() == "x"
