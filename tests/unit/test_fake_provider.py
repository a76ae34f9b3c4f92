"""The fake LLM vendor: wire conformance with the official SDKs, scripting, recording, demo."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from coder_agents_jupyter.agent.prompts import COMPACTION_MARKER
from coder_agents_jupyter.errors import ProviderError
from coder_agents_jupyter.llm.anthropic import AnthropicProvider
from coder_agents_jupyter.llm.openai_chat import OpenAIChatProvider
from coder_agents_jupyter.llm.types import (
    Message,
    ModelRequest,
    StreamDone,
    TextBlock,
    TextDelta,
    ToolResultBlock,
    Usage,
)
from coder_agents_jupyter.testing import (
    DEMO_SCRIPT,
    EXHAUSTED_TEXT,
    SUMMARY_REQUEST_MARKER,
    FakeLLM,
    repeat,
    reply,
    text,
    thinking,
    tool_call,
)

REPO = Path(__file__).resolve().parents[2]
KEY = "sk-fake-key"
Provider = AnthropicProvider | OpenAIChatProvider


def make_provider(fake: FakeLLM, family: str) -> Provider:
    if family == "anthropic":
        return AnthropicProvider("fake", KEY, base_url=fake.base_url, max_retries=0)
    return OpenAIChatProvider("fake", KEY, base_url=fake.openai_base_url, max_retries=0)


def user(prompt: str) -> Message:
    return Message(role="user", content=[TextBlock(text=prompt)])


async def call(provider: Provider, messages: list[Message], **kwargs: Any) -> StreamDone:
    events = [
        e async for e in provider.stream(ModelRequest(model="fake", messages=messages, **kwargs))
    ]
    done = events[-1]
    assert isinstance(done, StreamDone)
    return done


def test_summary_marker_is_the_compaction_marker() -> None:
    assert SUMMARY_REQUEST_MARKER == COMPACTION_MARKER == "<<compact-conversation>>"


# ----- wire conformance: sync SDK clients, their own stream helpers, raw bytes -----


def test_anthropic_wire_through_the_sync_sdk_and_its_stream_helper(
    fake_llm: FakeLLM,
) -> None:
    fake_llm.script(
        "default",
        [
            reply(
                thinking("Let me see."), text("Hello there, friend."), tool_call("f", {"a": [1, 2]})
            ),
            reply(text("plain")),
        ],
    )
    client = anthropic.Anthropic(api_key=KEY, base_url=fake_llm.base_url, max_retries=0)
    kwargs: dict[str, Any] = {
        "model": "m",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "hi"}],
    }
    with client.messages.stream(**kwargs) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text", "tool_use"]
    assert final.content[0].signature  # type: ignore[union-attr]
    assert final.content[1].text == "Hello there, friend."  # type: ignore[union-attr]
    assert final.content[2].input == {"a": [1, 2]}  # type: ignore[union-attr]
    assert final.stop_reason == "tool_use"
    assert final.usage.output_tokens > 1
    kwargs["messages"] = [{"role": "user", "content": "hi"}]  # same conversation: next entry
    raw = client.messages.create(**kwargs, stream=True)
    types = [event.type for event in raw]
    assert types == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    client.close()


def test_openai_wire_through_the_sync_sdk_and_its_stream_helper(
    fake_llm: FakeLLM,
) -> None:
    fake_llm.script(
        "default",
        [reply(text("Calling two tools."), tool_call("f", {"x": 1}), tool_call("g", {"y": "z"}))],
    )
    client = openai.OpenAI(api_key=KEY, base_url=fake_llm.openai_base_url, max_retries=0)
    with client.chat.completions.stream(
        model="m",
        messages=[{"role": "user", "content": "hi"}],
        stream_options={"include_usage": True},
    ) as stream:
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert message.content == "Calling two tools."
    assert [(c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls] == [
        ("f", {"x": 1}),
        ("g", {"y": "z"}),
    ]
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.usage is not None and final.usage.completion_tokens > 0
    client.close()


def test_raw_sse_framing(fake_llm: FakeLLM) -> None:
    fake_llm.script("default", [repeat(reply(text("hi")))])
    body = {
        "model": "m",
        "max_tokens": 5,
        "stream": True,
        "messages": [{"role": "user", "content": "x"}],
    }
    with httpx2.Client() as client:
        response = client.post(f"{fake_llm.base_url}/v1/messages", json=body)
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["transfer-encoding"] == "chunked"
        frames = response.text.split("\n\n")
        assert frames[0].startswith("event: message_start\ndata: {")
        assert frames[1] == 'event: ping\ndata: {"type":"ping"}'
        assert all(f.startswith("event: ") for f in frames if f)
        response = client.post(f"{fake_llm.openai_base_url}/chat/completions", json=body)
        assert response.text.endswith("data: [DONE]\n\n")
        assert "event:" not in response.text


def test_non_streaming_answers(fake_llm: FakeLLM) -> None:
    fake_llm.script("default", [repeat(reply(text("whole answer"), tool_call("f", {})))])
    claude = anthropic.Anthropic(api_key=KEY, base_url=fake_llm.base_url, max_retries=0)
    message = claude.messages.create(
        model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
    )
    assert message.content[0].text == "whole answer"  # type: ignore[union-attr]
    assert message.stop_reason == "tool_use"
    gpt = openai.OpenAI(api_key=KEY, base_url=fake_llm.openai_base_url, max_retries=0)
    completion = gpt.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}]
    )
    assert completion.choices[0].message.content == "whole answer"
    assert completion.choices[0].message.tool_calls[0].function.name == "f"  # type: ignore[index]
    claude.close()
    gpt.close()


def test_models_listing_for_both_sdks(fake_llm: FakeLLM) -> None:
    fake_llm.script("alpha", [])
    fake_llm.script("beta", [])
    gpt = openai.OpenAI(api_key=KEY, base_url=fake_llm.openai_base_url)
    assert [m.id for m in gpt.models.list()] == ["alpha", "beta"]
    claude = anthropic.Anthropic(api_key=KEY, base_url=fake_llm.base_url)
    assert [m.id for m in claude.models.list()] == ["alpha", "beta"]
    assert [r.path for r in fake_llm.requests] == ["/v1/models", "/v1/models"]
    gpt.close()
    claude.close()


# ----- scripting -----


@pytest.mark.asyncio
@pytest.mark.parametrize("family", ["anthropic", "chat"])
async def test_scripts_are_picked_by_tag_and_advance_per_conversation(
    fake_llm: FakeLLM,
    family: str,
) -> None:
    fake_llm.script("bugfix", [reply(text("fix 1")), reply(text("fix 2"))])
    fake_llm.script("default", [reply(text("default 1"))])
    provider = make_provider(fake_llm, family)
    try:
        a, b = user("please #bugfix this"), user("another chat, also #bugfix")
        assert (await call(provider, [a])).message.text() == "fix 1"
        assert (await call(provider, [b])).message.text() == "fix 1"  # its own cursor
        assert (await call(provider, [a, user("more")])).message.text() == "fix 2"
        assert (await call(provider, [a, user("more")])).message.text() == EXHAUSTED_TEXT
        assert (await call(provider, [user("no tag #unknown")])).message.text() == "default 1"
    finally:
        await provider.aclose()
    recorded = fake_llm.requests_for("bugfix")
    assert [r.index for r in recorded] == [0, 0, 1, 2]
    assert all(r.headers["content-type"] == "application/json" for r in recorded)
    assert '"more"' in json.dumps(recorded[2].body["messages"][-1])
    assert fake_llm.requests_for("default")[0].script == "default"


@pytest.mark.asyncio
async def test_concurrent_chats_each_follow_their_script(fake_llm: FakeLLM) -> None:
    fake_llm.script("step", [reply(text(f"step {i}"), delay=0.01) for i in range(3)])
    provider = make_provider(fake_llm, "anthropic")

    async def chat(n: int) -> list[str]:
        history = [user(f"chat {n} #step")]
        answers = []
        for _ in range(3):
            done = await call(provider, history)
            answers.append(done.message.text())
            history += [done.message, user("next")]
        return answers

    try:
        results = await asyncio.gather(*(chat(n) for n in range(6)))
    finally:
        await provider.aclose()
    assert results == [["step 0", "step 1", "step 2"]] * 6
    assert len(fake_llm.requests_for("step")) == 18


def test_threads_hitting_the_server_at_once(fake_llm: FakeLLM) -> None:
    fake_llm.script("t", [reply(text("one")), reply(text("two"))])
    failures: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            client = openai.OpenAI(api_key=KEY, base_url=fake_llm.openai_base_url, max_retries=0)
            for expected in ("one", "two"):
                completion = client.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": f"#t worker {n}"}]
                )
                assert completion.choices[0].message.content == expected
            client.close()
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert failures == []
    assert len(fake_llm.requests_for("t")) == 16


@pytest.mark.asyncio
async def test_callable_and_repeating_entries(fake_llm: FakeLLM) -> None:
    seen: list[dict[str, Any]] = []

    def echo(request: dict[str, Any]) -> Any:
        seen.append(request)
        return reply(text(f"{len(request['messages'])} messages"))

    fake_llm.script("dyn", [echo, repeat(reply(text("again")))])
    provider = make_provider(fake_llm, "chat")
    try:
        first = user("#dyn hi")
        assert (await call(provider, [first])).message.text() == "1 messages"
        for _ in range(3):
            assert (await call(provider, [first])).message.text() == "again"
    finally:
        await provider.aclose()
    assert seen[0]["model"] == "fake"
    assert [r.index for r in fake_llm.requests_for("dyn")] == [0, 1, 1, 1]


@pytest.mark.asyncio
@pytest.mark.parametrize("family", ["anthropic", "chat"])
async def test_summary_requests_do_not_move_the_cursor_and_compacted_chats_continue(
    fake_llm: FakeLLM,
    family: str,
) -> None:
    fake_llm.script("long", [reply(text("answer 1")), reply(text("answer 2"))])
    fake_llm.summary_text = "SUMMARY: they asked twice."
    provider = make_provider(fake_llm, family)
    try:
        first = user("#long start")
        one = await call(provider, [first])
        ask_summary = user(f"{SUMMARY_REQUEST_MARKER}\nSummarize the conversation so far.")
        summary = await call(provider, [first, one.message, ask_summary])
        assert summary.message.text().startswith("SUMMARY: they asked twice.")
        # The context after compaction starts with the summary instead of the tagged prompt.
        compacted = [user("Summary of earlier conversation:\n" + summary.message.text())]
        two = await call(provider, [*compacted, user("go on")])
    finally:
        await provider.aclose()
    assert (one.message.text(), two.message.text()) == ("answer 1", "answer 2")
    assert [r.index for r in fake_llm.requests_for("long")] == [0, None, 1]


@pytest.mark.asyncio
async def test_usage_override_and_estimate(fake_llm: FakeLLM) -> None:
    usage = Usage(input_tokens=10, output_tokens=5, cache_read_tokens=100, cache_write_tokens=7)
    fake_llm.script("default", [reply(text("x"), usage=usage), reply(text("y" * 400))])
    provider = make_provider(fake_llm, "anthropic")
    try:
        first = user("hello")
        assert (await call(provider, [first])).usage == usage
        estimated = (await call(provider, [first])).usage
    finally:
        await provider.aclose()
    sent = fake_llm.requests[-1].body["messages"]
    assert estimated.input_tokens == len(json.dumps(sent)) // 4
    assert estimated.output_tokens == 100


@pytest.mark.asyncio
async def test_delay_streams_chunk_by_chunk(fake_llm: FakeLLM) -> None:
    fake_llm.script("default", [reply(text("alpha beta gamma delta epsilon zeta eta"), delay=0.1)])
    provider = make_provider(fake_llm, "chat")
    arrivals: list[float] = []
    try:
        async for event in provider.stream(ModelRequest(model="m", messages=[user("x")])):
            if isinstance(event, TextDelta):
                arrivals.append(time.monotonic())
    finally:
        await provider.aclose()
    assert len(arrivals) >= 3  # the text really was split into several deltas
    assert arrivals[-1] - arrivals[0] >= 0.1 * (len(arrivals) - 1) * 0.8


@pytest.mark.asyncio
async def test_errors_before_and_inside_the_stream(fake_llm: FakeLLM) -> None:
    fake_llm.script(
        "default",
        [
            reply(error=(429, {"error": {"message": "slow down"}}, {"retry-after": "2"})),
            reply(text("half"), stream_error={"message": "upstream died", "code": 502}),
        ],
    )
    provider = make_provider(fake_llm, "chat")
    try:
        with pytest.raises(ProviderError) as before:
            await call(provider, [user("x")])
        with pytest.raises(ProviderError) as inside:
            await call(provider, [user("x")])
    finally:
        await provider.aclose()
    assert (before.value.kind, before.value.retry_after) == ("rate_limit", 2.0)
    assert (inside.value.kind, inside.value.status_code, inside.value.message) == (
        "server",
        502,
        "upstream died",
    )


@pytest.mark.asyncio
async def test_a_failing_reply_function_is_reported_not_hung(
    fake_llm: FakeLLM,
) -> None:
    def broken(request: dict[str, Any]) -> Any:
        raise KeyError("oops")

    fake_llm.script("default", [broken])
    provider = AnthropicProvider("fake", KEY, base_url=fake_llm.base_url, max_retries=2)
    try:
        with pytest.raises(ProviderError) as info:
            await call(provider, [user("x")])
    finally:
        await provider.aclose()
    assert (info.value.kind, info.value.retryable) == ("server", False)
    assert "scripted reply function failed: KeyError('oops')" in info.value.message
    assert len(fake_llm.requests) == 1  # x-should-retry: false stopped the SDK's retries


def test_api_key_is_checked_when_configured(fake_llm: FakeLLM) -> None:
    fake_llm.api_key = "right"
    try:
        client = openai.OpenAI(api_key="wrong", base_url=fake_llm.openai_base_url, max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        client.close()
    finally:
        fake_llm.api_key = None
    assert fake_llm.requests[-1].headers["authorization"] == "Bearer wrong"


def test_reset_forgets_everything(fake_llm: FakeLLM) -> None:
    fake_llm.script("x", [reply(text("a"))])
    fake_llm.summary_text = "changed"
    client = openai.OpenAI(api_key=KEY, base_url=fake_llm.openai_base_url, max_retries=0)
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "#x"}])
    fake_llm.reset()
    assert fake_llm.requests == [] and fake_llm.summary_text.startswith("SUMMARY:")
    completion = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "#x"}]
    )
    assert completion.choices[0].message.content == EXHAUSTED_TEXT
    client.close()


def test_restart_on_the_same_port_keeps_cursors() -> None:
    fake = FakeLLM()
    base = fake.start()
    fake.script("default", [reply(text("before")), reply(text("after"))])
    client = openai.OpenAI(api_key=KEY, base_url=f"{base}/v1", max_retries=1)
    messages: list[Any] = [{"role": "user", "content": "resume me"}]
    assert (
        client.chat.completions.create(model="m", messages=messages).choices[0].message.content
        == "before"
    )
    fake.stop()
    assert fake.start() == base
    try:
        answer = client.chat.completions.create(model="m", messages=messages)
        assert answer.choices[0].message.content == "after"
    finally:
        client.close()
        fake.stop()


# ----- the demo model -----


@pytest.mark.asyncio
@pytest.mark.parametrize("family", ["anthropic", "chat"])
async def test_demo_script_runs_a_whole_turn(fake_llm: FakeLLM, family: str) -> None:
    fake_llm.script("default", [DEMO_SCRIPT])  # a list works too: the entry repeats
    provider = make_provider(fake_llm, family)
    try:
        history = [user("What is in this folder?")]
        first = await call(provider, history)
        assert "This is the demo model: scripted, no AI." in first.message.text()
        (ls,) = first.message.tool_calls()
        assert (ls.name, ls.input) == ("execute", {"command": "ls -la"})
        listing = "total 8\ndrwxr-xr-x 2 me me 4096 .\n-rw-r--r-- 1 me me 12 notes.txt"
        history += [
            first.message,
            Message(role="tool", content=[ToolResultBlock(tool_call_id=ls.id, content=listing)]),
        ]
        second = await call(provider, history)
        (write,) = second.message.tool_calls()
        assert write.name == "write_file" and write.input["path"] == "DEMO.md"
        assert "notes.txt" in write.input["content"] and "no AI" in write.input["content"]
        history += [
            second.message,
            Message(role="tool", content=[ToolResultBlock(tool_call_id=write.id, content="ok")]),
        ]
        third = await call(provider, history)
        assert third.message.tool_calls() == [] and third.stop_reason == "end_turn"
        assert "scripted, no AI" in third.message.text() and "DEMO.md" in third.message.text()
        # A new prompt in the same chat starts the demo over: it depends on state, not a cursor.
        again = await call(provider, [*history, third.message, user("again please")])
        assert again.message.tool_calls()[0].input == {"command": "ls -la"}
    finally:
        await provider.aclose()


def test_standalone_demo_server() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "coder_agents_jupyter.testing.fake_provider", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        base = line.split("base_url=")[1].split()[0]
        client = openai.OpenAI(api_key="none", base_url=f"{base}/v1", max_retries=0)
        completion = client.chat.completions.create(
            model="demo", messages=[{"role": "user", "content": "hi"}]
        )
        assert "scripted, no AI" in (completion.choices[0].message.content or "")
        client.close()
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()
