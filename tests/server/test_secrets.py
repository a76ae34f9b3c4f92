"""Provider keys never reach a workspace, a tool result, an event, a log line or a response."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from coder_agents_jupyter.testing import reply, text, tool_call

SECRETS = ("sk-ant-test-secret-1234", "sk-openai-test-secret-5678")


async def test_no_key_anywhere(api, fake_llm, jp_ws_fetch, caplog, protocol) -> None:
    caplog.set_level(logging.DEBUG)
    fake_llm.script(
        "leak",
        [
            reply(
                tool_call("execute", {"command": "env; echo key=$FAKE_ANTHROPIC_KEY"}),
                tool_call("write_file", {"path": "env.txt", "content": "x"}),
            ),
            reply(text("Here is the environment.")),
        ],
    )
    # A vendor that echoes the key in its error must not get it shown either.
    fake_llm.script(
        "echo",
        [
            reply(
                error=(
                    401,
                    {
                        "error": {
                            "type": "authentication_error",
                            "message": f"invalid x-api-key {SECRETS[0]} {SECRETS[1]}",
                        }
                    },
                )
            )
        ],
    )
    seen: list[str] = []
    chat = await api.chat("Show me the environment #leak")
    ws = await jp_ws_fetch(
        "coder-agents", "api", "v1", "chats", chat["id"], "events", params={"after_seq": "0"}
    )
    while True:
        frame = await asyncio.wait_for(ws.read_message(), timeout=30)
        assert frame is not None
        seen.append(frame)
        if json.loads(frame).get("status") in ("waiting", "error"):
            break
    ws.close()
    failing = await api.chat("Now fail #echo")
    failed = await api.wait(failing["id"])
    assert failed["status"] == "error" and "fake" in failed["error"]["message"]

    for path in (
        "models",
        "providers",
        "chats",
        f"chats/{chat['id']}",
        f"chats/{chat['id']}/messages",
        f"chats/{failing['id']}",
        f"chats/{failing['id']}/messages",
        "openapi.json",
        "workspaces",
    ):
        seen.append(json.dumps(await api.ok("GET", path)))
    messages = await api.messages(chat["id"])
    assert "key=" in messages[2]["content"][0]["content"]  # the command did run
    seen += [r.getMessage() for r in caplog.records]
    seen += [str(r.args) for r in caplog.records]
    everything = "\n".join(seen)
    for secret in SECRETS:
        assert secret not in everything
    assert len(seen) > 20


@pytest.fixture(params=["anthropic", "openai-chat", "openai"])
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)
