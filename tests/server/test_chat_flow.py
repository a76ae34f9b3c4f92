"""Whole chats through the REST API of a real Jupyter server, on both wire protocols."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from coder_agents_jupyter.testing import reply, text, tool_call, web_search
from coder_agents_jupyter.testing.providers import PROVIDER_KINDS

PYTEST = f"{sys.executable} -m pytest -q -p no:cacheprovider"
BUGGY = "def add(a, b):\n    return a - b\n"
TEST = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"


async def test_scripted_bugfix_chat(api, fake_llm, jp_root_dir: Path) -> None:
    await bugfix_chat(api, fake_llm, jp_root_dir)


@pytest.mark.parametrize(
    "protocol", [k for k in PROVIDER_KINDS if k not in ("anthropic", "openai-chat")], indirect=True
)
async def test_scripted_bugfix_chat_on_every_provider_type(
    api, fake_llm, jp_root_dir: Path, protocol: str
) -> None:
    await bugfix_chat(api, fake_llm, jp_root_dir)
    expected = {
        "openai": "/v1/responses",
        "azure-openai-v1": "/openai/v1/responses",
        "azure-openai-classic": "/openai/responses",  # Azure routes Responses by body model
        "azure-openai-chat": "/openai/deployments/fake-deployment/chat/completions",
        "bedrock": "/model/fake-model/invoke-with-response-stream",
    }.get(protocol, "/v1/chat/completions")
    assert {r.path for r in fake_llm.requests_for("bugfix")} == {expected}


@pytest.mark.postgres
@pytest.mark.parametrize("protocol", ["openai-chat"], indirect=True)
async def test_scripted_bugfix_chat_on_postgres(api, fake_llm, jp_root_dir: Path) -> None:
    await bugfix_chat(api, fake_llm, jp_root_dir)


async def bugfix_chat(api, fake_llm, jp_root_dir: Path) -> None:  # type: ignore[no-untyped-def]
    # Given a script that writes code, runs its tests, fixes the failure and reports
    fake_llm.script(
        "bugfix",
        [
            reply(
                text("I'll write the module and its test."),
                tool_call("write_file", {"path": "calc.py", "content": BUGGY}),
                tool_call("write_file", {"path": "test_calc.py", "content": TEST}),
            ),
            reply(tool_call("execute", {"command": PYTEST})),
            reply(
                text("The test fails: add subtracts."),
                tool_call(
                    "edit_files",
                    {"edits": [{"path": "calc.py", "old_text": "a - b", "new_text": "a + b"}]},
                ),
            ),
            reply(tool_call("execute", {"command": PYTEST})),
            reply(text("Fixed add(); the test passes now.")),
        ],
    )
    # When a user starts the chat
    chat = await api.chat("Write add() with a test and make it pass #bugfix")
    assert chat["status"] == "pending"
    done = await api.wait(chat["id"])
    # Then it ends waiting with the final answer, and the workspace holds the fix
    assert done["status"] == "waiting", done["error"]
    assert (jp_root_dir / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"
    messages = await api.messages(chat["id"])
    roles = [m["role"] for m in messages]
    # user, then 4 x (assistant with tool calls, tool results), then the final answer
    assert roles == ["user"] + ["assistant", "tool"] * 4 + ["assistant"], roles
    assert messages[-1]["content"] == [
        {"type": "text", "text": "Fixed add(); the test passes now."}
    ]
    first_run, second_run = messages[4]["content"][0], messages[8]["content"][0]
    assert first_run["is_error"] is False and "1 failed" in first_run["content"]
    assert "1 passed" in second_run["content"]
    edit = messages[6]["content"][0]
    assert "-    return a - b" in edit["content"] and "+    return a + b" in edit["content"]
    for m in messages:
        if m["role"] == "assistant":
            assert m["usage"]["input_tokens"] > 0 and m["usage"]["output_tokens"] > 0
    assert done["usage"]["output_tokens"] == sum(
        m["usage"]["output_tokens"] for m in messages if m["usage"]
    )
    # And the model saw every tool result of the previous step
    last_request = fake_llm.requests_for("bugfix")[-1].body
    assert "1 passed" in json.dumps(last_request)

    # And a long chat can be read from its end backwards, a page at a time
    page = f"chats/{chat['id']}/messages"
    tail = await api.ok("GET", page, before=messages[-1]["seq"], limit=3)
    assert [m["seq"] for m in tail] == [m["seq"] for m in messages[-4:-1]]
    earlier = await api.ok("GET", page, before=tail[0]["seq"], limit=100)
    assert [m["seq"] for m in earlier] == [m["seq"] for m in messages[:-4]]


async def test_follow_up_is_queued_and_delivered_in_order(api, fake_llm) -> None:
    fake_llm.script(
        "queue",
        [
            reply(tool_call("execute", {"command": "sleep 1.5; echo slept"})),
            reply(text("first done")),
            reply(text("second done")),
        ],
    )
    chat = await api.chat("Run the slow thing #queue")
    await api.wait_for_tool_call(chat["id"])
    status, body = await api.call(
        "POST", f"chats/{chat['id']}/messages", {"content": "and then this"}
    )
    assert status == 202 and body["queued"] is True
    assert [q["content"][0]["text"] for q in await api.ok("GET", f"chats/{chat['id']}/queue")] == [
        "and then this"
    ]
    done = await api.wait(chat["id"])
    assert done["status"] == "waiting"
    texts = [
        (m["role"], b.get("text"))
        for m in await api.messages(chat["id"])
        for b in m["content"]
        if b["type"] == "text"
    ]
    assert texts == [
        ("user", "Run the slow thing #queue"),
        ("assistant", "first done"),
        ("user", "and then this"),
        ("assistant", "second done"),
    ]
    assert await api.ok("GET", f"chats/{chat['id']}/queue") == []


async def test_stop_mid_command_keeps_partial_answer(api, fake_llm) -> None:
    fake_llm.script(
        "stop",
        [
            reply(
                text("Starting the long job now."),
                tool_call("execute", {"command": "sleep 60", "timeout_seconds": 120}),
            ),
        ],
    )
    chat = await api.chat("Run the long job #stop")
    await api.wait_for_tool_call(chat["id"])
    await asyncio.sleep(0.3)  # the command is running
    status, _ = await api.call("POST", f"chats/{chat['id']}/stop")
    assert status == 202
    done = await api.wait(chat["id"], timeout=10)
    assert done["status"] == "paused"
    messages = await api.messages(chat["id"])
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
    assert messages[1]["content"][0] == {"type": "text", "text": "Starting the long job now."}
    result = messages[2]["content"][0]
    assert result["is_error"] is True and "stopped" in result["content"]
    # A stopped chat can be stopped no more, and resumes with a new message
    status, body = await api.call("POST", f"chats/{chat['id']}/stop")
    assert status == 409 and body["error"]["code"] == "conflict"


async def test_stop_mid_stream_saves_partial_text(api, fake_llm) -> None:
    words = [f"word{i} " for i in range(200)]
    fake_llm.script("stream", [reply(*(text(w) for w in words), delay=0.02)])
    chat = await api.chat("Say many words #stream")
    await api.wait(chat["id"], {"running"})
    await asyncio.sleep(0.5)
    await api.ok("POST", f"chats/{chat['id']}/stop")
    done = await api.wait(chat["id"], timeout=10)
    assert done["status"] == "paused"
    messages = await api.messages(chat["id"])
    assert [m["role"] for m in messages] == ["user", "assistant"]
    partial = messages[1]["content"][-1]["text"]
    assert partial.startswith("word0 word1") and len(partial) < len("".join(words))


async def test_compaction_replaces_history_with_summary(api, fake_llm) -> None:
    from coder_agents_jupyter.llm.types import Usage

    fake_llm.summary_text = "SUMMARY: echoed one and two."
    fake_llm.script(
        "long",
        [
            reply(
                tool_call("execute", {"command": "echo one"}),
                usage=Usage(input_tokens=2000, output_tokens=10),
            ),
            reply(
                tool_call("execute", {"command": "echo two"}),
                usage=Usage(input_tokens=8000, output_tokens=10),
            ),
            reply(text("All done."), usage=Usage(input_tokens=500, output_tokens=5)),
        ],
    )
    chat = await api.chat("Echo things #long", model="tiny-model")
    done = await api.wait(chat["id"])
    assert done["status"] == "waiting", done["error"]
    requests = [r.body for r in fake_llm.requests if r.script == "long"]
    summary_requests = [r for r in requests if "<<compact-conversation>>" in json.dumps(r)]
    assert len(summary_requests) == 1
    after = json.dumps(requests[-1])
    assert "SUMMARY: echoed one and two." in after
    assert "echo one" not in after and "echo two" not in after
    # People still see everything, with the summary flagged
    messages = await api.messages(chat["id"])
    assert [m["is_summary"] for m in messages].count(True) == 1
    assert any("echo one" in json.dumps(m) for m in messages)
    assert messages[-1]["content"][0]["text"] == "All done."


async def test_retry_after_provider_error(api, fake_llm) -> None:
    fake_llm.script(
        "flaky",
        [
            reply(
                error=(
                    400,
                    {
                        "type": "error",
                        "error": {
                            "type": "invalid_request_error",
                            "message": "prompt is malformed",
                        },
                    },
                )
            ),
            reply(text("Recovered.")),
        ],
    )
    chat = await api.chat("Try #flaky")
    failed = await api.wait(chat["id"])
    assert failed["status"] == "error"
    assert "fake" in failed["error"]["message"]
    await api.ok("POST", f"chats/{chat['id']}/retry")
    done = await api.wait(chat["id"])
    assert done["status"] == "waiting"
    assert [m["role"] for m in await api.messages(chat["id"])] == ["user", "assistant"]


async def test_fork_copies_history_up_to_a_message(api, fake_llm) -> None:
    fake_llm.script("fork", [reply(text("one")), reply(text("two"))])
    chat = await api.chat("Start #fork")
    await api.wait(chat["id"])
    await api.ok("POST", f"chats/{chat['id']}/messages", {"content": "again"})
    await api.wait(chat["id"])
    messages = await api.messages(chat["id"])
    assert len(messages) == 4
    fork = await api.ok("POST", f"chats/{chat['id']}/fork", {"message_id": messages[1]["id"]})
    assert fork["status"] == "waiting" and fork["forked_from"] == chat["id"]
    copied = await api.messages(fork["id"])
    assert [m["content"] for m in copied] == [m["content"] for m in messages[:2]]


async def test_provider_keys_never_reach_the_workspace(api, fake_llm, monkeypatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-env-secret-0043")
    fake_llm.script("env", [reply(tool_call("execute", {"command": "env"})), reply(text("ok"))])
    chat = await api.chat("Show the environment #env")
    await api.wait(chat["id"])
    messages = await api.messages(chat["id"])
    listing = messages[2]["content"][0]["content"]
    assert "PATH=" in listing
    everything = listing + json.dumps(messages) + json.dumps(await api.ok("GET", "chats"))
    for secret in (
        "sk-ant-test-secret-1234",
        "sk-openai-test-secret-5678",
        "sk-ant-env-secret-0043",
    ):
        assert secret not in everything
    assert "FAKE_ANTHROPIC_KEY" not in listing and "ANTHROPIC_API_KEY" not in listing


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


async def test_images_reach_the_model(api, fake_llm, protocol) -> None:
    import base64

    fake_llm.script("img", [reply(text("A single pixel."))])
    status, att = await api.call(
        "POST", "attachments", raw=PNG, headers={"Content-Type": "image/png"}, name="dot.png"
    )
    assert status == 201, att
    chat = await api.chat("What is in this image? #img", attachments=[att["id"]])
    assert (await api.wait(chat["id"]))["status"] == "waiting"
    sent = json.dumps(fake_llm.requests_for("img")[0].body)
    assert base64.b64encode(PNG).decode() in sent
    first = (await api.messages(chat["id"]))[0]["content"]
    assert first[1] == {"type": "image", "attachment_id": att["id"], "media_type": "image/png"}
    status, body = await api.call("GET", f"attachments/{att['id']}")
    assert status == 200 and body == PNG


async def test_scratch_workspace_holds_the_agents_files(api, fake_llm, jp_root_dir) -> None:
    fake_llm.script(
        "ws",
        [
            reply(tool_call("write_file", {"path": "notes.md", "content": "hi"})),
            reply(text("Written.")),
        ],
    )
    ws = await api.ok("POST", "workspaces", {"name": "scratch"})
    assert ws["kind"] == "local" and Path(ws["path"]).is_dir()
    chat = await api.chat("Take notes #ws", workspace_id=ws["id"])
    assert (await api.wait(chat["id"]))["status"] == "waiting"
    assert (Path(ws["path"]) / "notes.md").read_text() == "hi"
    assert not (jp_root_dir / "notes.md").exists()
    assert [w["id"] for w in await api.ok("GET", "workspaces")] == [ws["id"]]
    status, body = await api.call("POST", "workspaces", {"path": "/etc"})
    assert status == 400 and "admins" in body["error"]["message"]
    status, _ = await api.call("DELETE", f"workspaces/{ws['id']}")
    assert status == 204
    status, _ = await api.call("POST", "chats", {"prompt": "x", "workspace_id": ws["id"]})
    assert status == 404


@pytest.mark.parametrize("protocol", ["anthropic", "openai"], indirect=True)
async def test_native_web_search_keeps_sources(api, fake_llm, protocol) -> None:
    url = "https://jupyter.org/news"
    fake_llm.script(
        "web",
        [
            reply(
                web_search("jupyter news", [(url, "Jupyter news")]),
                text("JupyterLab 4.6 is out.", cite=[url]),
            )
        ],
    )
    chat = await api.chat("What is new in Jupyter? #web", model="search-model")
    assert (await api.wait(chat["id"]))["status"] == "waiting"
    tools = fake_llm.requests_for("web")[0].body["tools"]
    assert any("web_search" in (t.get("type") or "") for t in tools)
    content = (await api.messages(chat["id"]))[1]["content"]
    sources = next(b for b in content if b["type"] == "sources")
    assert sources["sources"][0]["url"] == url
    assert content[-1] == {"type": "text", "text": "JupyterLab 4.6 is out."}


async def test_skills_and_agents_md_reach_the_model(api, fake_llm, jp_root_dir: Path) -> None:
    (jp_root_dir / "AGENTS.md").write_text("Use uv, never pip.\n")
    skill = jp_root_dir / ".agents" / "skills" / "demo"
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text("---\nname: demo\ndescription: Demo skill.\n---\nStep 1.\n")
    fake_llm.script(
        "sk",
        [
            reply(tool_call("read_skill_file", {"name": "demo", "path": "../../../AGENTS.md"})),
            reply(tool_call("read_skill", {"name": "demo"})),
            reply(text("ok")),
        ],
    )
    chat = await api.chat("Use the demo skill #sk")
    assert (await api.wait(chat["id"]))["status"] == "waiting"
    first = fake_llm.requests_for("sk")[0].body
    sent = json.dumps(first)
    assert "Use uv, never pip." in sent and "<available-skills>" in sent
    assert "demo: Demo skill." in sent
    tools = {t.get("name") or t["function"]["name"] for t in first["tools"]}
    assert {"read_skill", "read_skill_file"} <= tools
    messages = await api.messages(chat["id"])
    escape, read = (b for m in messages if m["role"] == "tool" for b in m["content"])
    assert escape["is_error"] and "'..' is not allowed" in escape["content"]
    assert "Step 1." in read["content"]
