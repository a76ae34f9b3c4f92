"""Live events over the WebSocket (with reconnects) and queue management."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from coder_agents_jupyter.testing import reply, text, tool_call

pytestmark = pytest.mark.parametrize("protocol", ["anthropic"], indirect=True)

WORDS = [f"w{i} " for i in range(40)]


async def read_until(ws: Any, stop: Any, limit: int = 10_000) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    while len(frames) < limit:
        raw = await asyncio.wait_for(ws.read_message(), timeout=30)
        assert raw is not None, "socket closed"
        frames.append(json.loads(raw))
        if stop(frames[-1]):
            break
    return frames


def is_done(f: dict[str, Any]) -> bool:
    return f["type"] == "status" and f["status"] == "waiting"


async def events(jp_ws_fetch: Any, chat_id: str, after: int | None = None) -> Any:
    params = {"after_seq": str(after)} if after is not None else {}
    return await jp_ws_fetch("coder-agents", "api", "v1", "chats", chat_id, "events", params=params)


async def test_events_stream_the_turn(api, fake_llm, jp_ws_fetch) -> None:
    fake_llm.script(
        "ws",
        [
            reply(tool_call("execute", {"command": "echo hi"})),
            reply(*(text(w) for w in WORDS), delay=0.01),
        ],
    )
    chat = await api.chat("Stream please #ws")
    ws = await events(jp_ws_fetch, chat["id"], after=0)
    frames = await read_until(ws, is_done)
    ws.close()
    seqs = [f["seq"] for f in frames]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert all(f["chat_id"] == chat["id"] for f in frames)
    types = [f["type"] for f in frames]
    for expected in (
        "status",
        "message_start",
        "tool_call",
        "tool_result",
        "message_end",
        "text_delta",
        "usage",
    ):
        assert expected in types, expected
    streamed = "".join(f["text"] for f in frames if f["type"] == "text_delta")
    assert streamed == "".join(WORDS)
    result = next(f for f in frames if f["type"] == "tool_result")
    assert result["content"].count("hi") >= 1 and result["is_error"] is False
    statuses = [f["status"] for f in frames if f["type"] == "status"]
    assert statuses[-1] == "waiting" and "running" in statuses


async def test_reconnect_with_after_seq_misses_nothing(api, fake_llm, jp_ws_fetch) -> None:
    fake_llm.script("re", [reply(*(text(w) for w in WORDS), delay=0.03)])
    chat = await api.chat("Stream slowly #re")
    ws = await events(jp_ws_fetch, chat["id"], after=0)
    first = await read_until(ws, lambda f: f["type"] == "text_delta" and "w5 " in f["text"])
    ws.close()
    await asyncio.sleep(0.3)  # deltas keep coming while nobody listens
    ws = await events(jp_ws_fetch, chat["id"], after=first[-1]["seq"])
    rest = await read_until(ws, is_done)
    ws.close()
    seqs = [f["seq"] for f in first + rest]
    assert len(seqs) == len(set(seqs)), "no frame twice"
    streamed = "".join(f["text"] for f in first + rest if f["type"] == "text_delta")
    assert streamed == "".join(WORDS)


async def test_a_follow_up_and_a_delivered_queue_item_are_announced(
    api, fake_llm, jp_ws_fetch
) -> None:
    # Given a chat that is idle, followed by a client
    fake_llm.script(
        "follow",
        [
            reply(text("first")),
            reply(tool_call("execute", {"command": "sleep 1"})),
            reply(text("second")),
            reply(text("third")),
        ],
    )
    chat = await api.chat("Start #follow")
    await api.wait(chat["id"])
    ws = await events(jp_ws_fetch, chat["id"])
    # When the user writes, and writes again while the turn runs
    await api.ok("POST", f"chats/{chat['id']}/messages", {"content": "go on"})
    await api.wait_for_tool_call(chat["id"])
    await api.ok("POST", f"chats/{chat['id']}/messages", {"content": "and then"})
    frames = await read_until(
        ws,
        lambda f: f["type"] == "message_end" and f["message"]["content"][0].get("text") == "third",
    )
    ws.close()
    # Then both user messages reach the client as saved messages, in order, once each
    users = [
        f["message"]
        for f in frames
        if f["type"] == "message_end" and f["message"]["role"] == "user"
    ]
    assert [m["content"][0]["text"] for m in users] == ["go on", "and then"]
    assert users[0]["seq"] < users[1]["seq"] and all(m["id"] for m in users)


async def test_queue_edit_delete_and_order(api, fake_llm) -> None:
    fake_llm.script(
        "q",
        [
            reply(tool_call("execute", {"command": "sleep 1.5"})),
            reply(text("done 1")),
            reply(text("done a")),
            reply(text("done B")),
        ],
    )
    chat = await api.chat("Work #q")
    await api.wait_for_tool_call(chat["id"])
    ids = []
    for content in ("a", "b", "c"):
        status, body = await api.call("POST", f"chats/{chat['id']}/messages", {"content": content})
        assert status == 202
        ids.append(body["queued_message"]["id"])
    edited = await api.ok("PATCH", f"chats/{chat['id']}/queue/{ids[1]}", {"content": "B"})
    assert edited["content"] == [{"type": "text", "text": "B"}]
    status, _ = await api.call("DELETE", f"chats/{chat['id']}/queue/{ids[2]}")
    assert status == 204
    status, _ = await api.call("DELETE", f"chats/{chat['id']}/queue/{ids[2]}")
    assert status == 404
    assert [q["id"] for q in await api.ok("GET", f"chats/{chat['id']}/queue")] == ids[:2]
    await api.wait(chat["id"])
    texts = [
        (m["role"], m["content"][0].get("text"))
        for m in await api.messages(chat["id"])
        if m["role"] != "tool" and m["content"][0]["type"] == "text"
    ]
    assert texts == [
        ("user", "Work #q"),
        ("assistant", "done 1"),
        ("user", "a"),
        ("assistant", "done a"),
        ("user", "B"),
        ("assistant", "done B"),
    ]


async def test_send_now_interrupts_and_delivers(api, fake_llm) -> None:
    fake_llm.script(
        "now",
        [reply(tool_call("execute", {"command": "sleep 30"})), reply(text("got the urgent one"))],
    )
    chat = await api.chat("Long work #now")
    await api.wait_for_tool_call(chat["id"])
    status, body = await api.call("POST", f"chats/{chat['id']}/messages", {"content": "urgent"})
    assert status == 202
    await api.ok("POST", f"chats/{chat['id']}/queue/{body['queued_message']['id']}/send-now")
    done = await api.wait(chat["id"], {"waiting"}, timeout=20)
    assert done["status"] == "waiting"
    messages = await api.messages(chat["id"])
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "user", "assistant"]
    assert messages[2]["content"][0]["is_error"] is True
    assert messages[3]["content"] == [{"type": "text", "text": "urgent"}]
    assert await api.ok("GET", f"chats/{chat['id']}/queue") == []
