"""A SIGKILLed server's chat resumes on the next start, losing and duplicating nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from coder_agents_jupyter.testing import reply, text, tool_call
from coder_agents_jupyter.testing.jupyter import JupyterProcess


@pytest.fixture
def server(tmp_path: Path, fake_llm) -> Iterator[JupyterProcess]:  # type: ignore[no-untyped-def]
    srv = JupyterProcess(
        tmp_path,
        {
            "providers": [
                {
                    "name": "fake",
                    "type": "anthropic",
                    "base_url": fake_llm.base_url,
                    "api_key_env": "FAKE_KEY",
                }
            ],
            "models": [{"id": "fake-model", "provider": "fake", "default": True}],
            "limits": {"heartbeat_seconds": 0.5},
        },
        env={"FAKE_KEY": "sk-recovery"},
    )
    yield srv
    srv.stop()


@pytest.mark.slow
def test_sigkill_during_tool_call_resumes_on_restart(server: JupyterProcess, fake_llm) -> None:
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

    def tool_call_saved() -> bool:
        messages = server.get(f"chats/{chat['id']}/messages")
        return any(b["type"] == "tool_call" for m in messages for b in m["content"])

    server.wait_for(tool_call_saved)
    server.kill()
    server.start()
    done = server.wait_status(chat["id"])
    assert done["status"] == "waiting", done
    messages = server.get(f"chats/{chat['id']}/messages")
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert messages[0]["content"] == [{"type": "text", "text": "Do the long step #kill"}]
    result = messages[2]["content"][0]
    assert result["is_error"] and "restarted" in result["content"]
    assert messages[3]["content"][0]["text"] == "Resumed after the restart."
    assert len(fake_llm.requests_for("kill")) == 2


@pytest.mark.slow
def test_restart_while_children_run_resumes_the_tree(server: JupyterProcess, fake_llm) -> None:
    import json

    for kid in ("kid-a", "kid-b"):
        fake_llm.script(
            kid,
            [
                reply(tool_call("execute", {"command": "sleep 20", "timeout_seconds": 60})),
                reply(text(f"Report of {kid}.")),
            ],
        )

    def kids(request: dict) -> list[str]:
        found = json.dumps(request["messages"]).split('\\"chat_id\\": \\"')[1:]
        return list(dict.fromkeys(part.split('\\"', 1)[0] for part in found))

    fake_llm.script(
        "tree",
        [
            reply(
                *(
                    tool_call("spawn_agent", {"type": "general", "prompt": f"Work #{k}"})
                    for k in ("kid-a", "kid-b")
                )
            ),
            lambda r: reply(tool_call("wait_agent", {"chat_ids": kids(r)})),
            lambda r: reply(tool_call("wait_agent", {"chat_ids": kids(r)})),  # after the restart
            reply(text("Both reported.")),
        ],
    )
    server.start()
    root = server.post("chats", {"prompt": "Split the work #tree"})

    def all_busy() -> bool:
        chat = server.get(f"chats/{root['id']}")
        children = chat["children"]
        if len(children) != 2:
            return False
        saved = [server.get(f"chats/{c['id']}/messages") for c in children]
        calls = [any(b["type"] == "tool_call" for m in ms for b in m["content"]) for ms in saved]
        waiting = any(
            b.get("name") == "wait_agent"
            for m in server.get(f"chats/{root['id']}/messages")
            for b in m["content"]
        )
        return all(calls) and waiting

    server.wait_for(all_busy)
    server.kill()
    server.start()
    done = server.wait_status(root["id"])
    assert done["status"] == "waiting", done
    assert [c["status"] for c in done["children"]] == ["waiting", "waiting"]
    results = [
        b
        for m in server.get(f"chats/{root['id']}/messages")
        if m["role"] == "tool"
        for b in m["content"]
    ]
    interrupted, final = results[-2]["content"], json.loads(results[-1]["content"])
    assert "restarted" in interrupted
    assert sorted(f["report"] for f in final["finished"]) == [
        "Report of kid-a.",
        "Report of kid-b.",
    ]
    for child in done["children"]:
        roles = [m["role"] for m in server.get(f"chats/{child['id']}/messages")]
        assert roles == ["user", "assistant", "tool", "assistant"]
