"""Injected vendor faults, through whole chats: each recovers with visible retry events or
ends in ``error`` with a readable reason, and no message is lost or doubled."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from coder_agents_jupyter.testing import (
    disconnect_after,
    http_error,
    malformed_event,
    reply,
    stall,
    text,
)

FULL = "The answer is 42, and it took a while to compute. " * 2
ANSWER = [text(FULL)]  # streamed as several deltas


@pytest.fixture(params=["anthropic", "openai-chat", "openai"])
def protocol(request: pytest.FixtureRequest) -> str:
    """Every wire protocol: Anthropic Messages, Chat Completions, Responses."""
    return str(request.param)


@pytest.fixture
def jp_server_config(jp_server_config):  # type: ignore[no-untyped-def]
    jp_server_config["CoderAgents"]["limits"].update(
        retry_base_delay=0.01,
        retry_max_delay=0.05,
        retry_max_attempts=4,
        stream_silence_seconds=0.5,
    )
    return jp_server_config


async def run_with_events(api: Any, jp_ws_fetch: Any, prompt: str) -> tuple[dict, list[dict]]:
    chat = await api.chat(prompt)
    ws = await jp_ws_fetch(
        "coder-agents", "api", "v1", "chats", chat["id"], "events", params={"after_seq": "0"}
    )
    frames: list[dict[str, Any]] = []
    while not frames or frames[-1].get("status") not in ("waiting", "error"):
        raw = await asyncio.wait_for(ws.read_message(), timeout=30)
        assert raw is not None
        frames.append(json.loads(raw))
    ws.close()
    return await api.ok("GET", f"chats/{chat['id']}"), frames


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(http_error(429, retry_after=0), id="429-retry-after"),
        pytest.param(http_error(529), id="529-overloaded"),
        pytest.param(http_error(503), id="503"),
        pytest.param(disconnect_after(0), id="disconnect-before-output"),
        pytest.param(disconnect_after(5), id="disconnect-mid-answer"),
        pytest.param(malformed_event(after=4), id="malformed-event"),
        pytest.param(stall(3, after=4), id="silence"),
    ],
)
async def test_fault_recovers_with_retry_events(api, fake_llm, jp_ws_fetch, fault) -> None:
    fake_llm.script("f", [reply(*ANSWER, fault=fault), reply(*ANSWER)])
    chat, frames = await run_with_events(api, jp_ws_fetch, "Answer #f")
    assert chat["status"] == "waiting", chat["error"]
    retries = [f for f in frames if f["type"] == "retry"]
    assert len(retries) == 1 and retries[0]["reason"], frames
    messages = await api.messages(chat["id"])
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["content"] == [{"type": "text", "text": FULL}]
    # After the retry event, the streamed text is exactly one answer
    after = frames[frames.index(retries[0]) :]
    assert "".join(f["text"] for f in after if f["type"] == "text_delta") == FULL


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        pytest.param(http_error(401, "invalid x-api-key"), "invalid x-api-key", id="401"),
        pytest.param(http_error(400, "prompt is too long"), "prompt is too long", id="400"),
    ],
)
async def test_fatal_fault_ends_in_error(api, fake_llm, jp_ws_fetch, fault, words) -> None:
    fake_llm.script("fatal", [reply(*ANSWER, fault=fault)])
    chat, frames = await run_with_events(api, jp_ws_fetch, "Answer #fatal")
    assert chat["status"] == "error"
    assert chat["error"]["message"].startswith("fake: ") and words in chat["error"]["message"]
    assert not [f for f in frames if f["type"] == "retry"]
    assert [m["role"] for m in await api.messages(chat["id"])] == ["user"]
    assert len(fake_llm.requests_for("fatal")) == 1


async def test_retries_are_bounded(api, fake_llm, jp_ws_fetch) -> None:
    fake_llm.script("down", [reply(fault=http_error(503)) for _ in range(6)])
    chat, frames = await run_with_events(api, jp_ws_fetch, "Answer #down")
    assert chat["status"] == "error" and "gave up after 4 attempts" in chat["error"]["message"]
    assert len([f for f in frames if f["type"] == "retry"]) == 3
    assert [m["role"] for m in await api.messages(chat["id"])] == ["user"]


async def test_context_overflow_compacts_and_goes_on(api, fake_llm, jp_ws_fetch) -> None:
    from coder_agents_jupyter.testing import tool_call

    fake_llm.script(
        "long",
        [
            reply(tool_call("execute", {"command": "echo step"})),
            reply(fault=http_error(400, "prompt is too long: 210000 tokens > 200000 maximum")),
            reply(text("Done after compacting.")),
        ],
    )
    chat, frames = await run_with_events(api, jp_ws_fetch, "Work a lot #long")
    assert chat["status"] == "waiting", chat["error"]
    messages = await api.messages(chat["id"])
    assert [m["is_summary"] for m in messages].count(True) == 1
    assert messages[-1]["content"] == [{"type": "text", "text": "Done after compacting."}]
    last = json.dumps(fake_llm.requests_for("long")[-1].body)
    assert "echo step" not in last
