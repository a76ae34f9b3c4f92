"""OpenAIChatProvider against the fake vendor: recorded streams, request shapes, errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from coder_agents_jupyter.errors import ProviderError
from coder_agents_jupyter.llm.openai_chat import OpenAIChatProvider
from coder_agents_jupyter.llm.types import (
    ImageBlock,
    Message,
    ModelRequest,
    ReasoningBlock,
    ReasoningDelta,
    StreamDone,
    StreamEvent,
    TextBlock,
    TextDelta,
    ToolCallBlock,
    ToolCallStarted,
    ToolResultBlock,
    ToolSpec,
    Usage,
)
from coder_agents_jupyter.testing import FakeLLM, reply, text, thinking, tool_call

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "llm"
KEY = "sk-test-openai-key-0123456789abcdef"


@pytest_asyncio.fixture
async def provider(fake_llm: FakeLLM) -> AsyncIterator[OpenAIChatProvider]:
    p = OpenAIChatProvider("openai", KEY, base_url=fake_llm.openai_base_url, max_retries=0)
    try:
        yield p
    finally:
        await p.aclose()


def ask(prompt: str = "hello", **kwargs: Any) -> ModelRequest:
    return ModelRequest(
        model="gpt-test",
        messages=[Message(role="user", content=[TextBlock(text=prompt)])],
        **kwargs,
    )


async def collect(
    provider: OpenAIChatProvider, request: ModelRequest
) -> tuple[list[StreamEvent], StreamDone]:
    events = [e async for e in provider.stream(request)]
    assert sum(isinstance(e, StreamDone) for e in events) == 1
    assert isinstance(events[-1], StreamDone)
    return events[:-1], events[-1]


# ----- every recorded stream, through the real SDK -----

EXPECTED: dict[str, dict[str, Any]] = {
    "openai-chat/chat-stream-text-usage.txt": {
        "text": "I'm unable to provide real-time weather updates. To get the current weather in "
        "San Francisco, I recommend checking a reliable weather website or a weather app.",
        "stop": "end_turn",
        "usage": (14, 30, 0, 0),
    },
    "openai-chat/chat-stream-tool-call.txt": {
        "calls": [("call_4XzlGBLtUe9dy3GVNV4jhq7h", "get_weather", {"city": "New York City"})],
        "stop": "tool_use",
        "usage": (44, 16, 0, 0),
    },
    "openai-chat/chat-stream-parallel-tool-calls.txt": {
        "calls": [
            (
                "call_JMW1whyEaYG438VE1OIflxA2",
                "GetWeatherArgs",
                {"city": "Edinburgh", "country": "GB", "units": "c"},
            ),
            (
                "call_DNYTawLBoN8fj3KN6qU9N1Ou",
                "get_stock_price",
                {"ticker": "AAPL", "exchange": "NASDAQ"},
            ),
        ],
        "stop": "tool_use",
        "usage": (149, 60, 0, 0),
    },
    "openai-chat/chat-stream-finish-length.txt": {
        "text": '{"',
        "stop": "max_tokens",
        "usage": (79, 1, 0, 0),
    },
    "openai-chat/azure-chat-stream-content-filter.datalines.txt": {
        "text": "Capital of Denmark.",
        "stop": "end_turn",
        "usage": (15, 78, 0, 64),
    },
    "openrouter/chat-stream-reasoning-claude.txt": {
        "text": "2 + 2 = 4",
        "reasoning": "This is a simple arithmetic question. 2+2 equals 4.",
        "signature": ("Et0BCkgIChACGAIqQA2s7h7tA7IG35", "XjvIcYAQ==", 304),
        "stop": "end_turn",
        "usage": (43, 36, 0, 13),
    },
}
MIDSTREAM_ERROR = "openrouter/chat-stream-midstream-error.txt"


def test_every_chat_fixture_is_covered() -> None:
    found = {
        str(p.relative_to(FIXTURES))
        for folder in ("openai-chat", "openrouter")
        for p in (FIXTURES / folder).glob("*.txt")
    }
    assert found == set(EXPECTED) | {MIDSTREAM_ERROR}


@pytest.mark.asyncio
@pytest.mark.parametrize("chunk_size", [None, 7], ids=["per-event", "7-byte-chunks"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_replay_fixture(
    fake_llm: FakeLLM,
    provider: OpenAIChatProvider,
    name: str,
    chunk_size: int | None,
) -> None:
    expected = EXPECTED[name]
    fake_llm.replay(FIXTURES / name, chunk_size=chunk_size)
    events, done = await collect(provider, ask())
    message = done.message

    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == message.text()
    assert message.text() == expected.get("text", "")
    reasoning = [b for b in message.content if isinstance(b, ReasoningBlock)]
    streamed_reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    if "reasoning" in expected:
        assert streamed_reasoning == expected["reasoning"]
        assert [b.text for b in reasoning] == [expected["reasoning"]]
        head, tail, length = expected["signature"]
        signature = reasoning[0].signature or ""
        assert signature.startswith(head) and signature.endswith(tail) and len(signature) == length
        details = (reasoning[0].provider_data or {})["reasoning_details"]
        assert details[0]["text"] == expected["reasoning"]
        assert details[0]["signature"] == signature
    else:
        assert reasoning == [] and streamed_reasoning == ""

    calls = [(c.id, c.name, c.input) for c in message.tool_calls()]
    assert calls == expected.get("calls", [])
    started = [(e.id, e.name) for e in events if isinstance(e, ToolCallStarted)]
    assert started == [(c[0], c[1]) for c in calls]
    assert done.stop_reason == expected["stop"]
    usage = done.usage
    assert (
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_tokens,
        usage.reasoning_tokens,
    ) == expected["usage"]


@pytest.mark.asyncio
async def test_openrouter_midstream_error_becomes_provider_error(
    fake_llm: FakeLLM,
    provider: OpenAIChatProvider,
) -> None:
    fake_llm.replay(FIXTURES / MIDSTREAM_ERROR)
    seen: list[StreamEvent] = []
    with pytest.raises(ProviderError) as info:
        async for event in provider.stream(ask()):
            seen.append(event)
    reasoning = "".join(e.text for e in seen if isinstance(e, ReasoningDelta))
    assert reasoning == "We need to respond to a greeting. The user"
    err = info.value
    assert (err.kind, err.status_code, err.retryable) == ("bad_request", 400, False)
    assert err.message == "Token limit reached"


# ----- neutral -> wire -----

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"


@pytest.mark.asyncio
async def test_request_shapes_after_a_tool_call(
    fake_llm: FakeLLM,
    provider: OpenAIChatProvider,
) -> None:
    fake_llm.script("default", [reply(text("ok"))])
    spec = ToolSpec(
        name="execute",
        description="Run a command",
        parameters={"type": "object", "properties": {"command": {"type": "string"}}},
    )
    history = [
        Message(
            role="user",
            content=[
                TextBlock(text="look at this"),
                ImageBlock(attachment_id="a", media_type="image/png", data=PNG),
                ImageBlock(attachment_id="b"),
            ],
        ),
        Message(
            role="assistant",
            content=[
                ReasoningBlock(text="thinking, not sent back"),
                TextBlock(text="Running two commands."),
                ToolCallBlock(id="call_1", name="execute", input={"command": "ls"}),
                ToolCallBlock(id="call_2", name="execute", input={"command": "false"}),
            ],
        ),
        Message(
            role="tool",
            content=[
                ToolResultBlock(tool_call_id="call_1", content="a.py"),
                ToolResultBlock(tool_call_id="call_2", content="exit 1", is_error=True),
            ],
        ),
        Message(role="assistant", content=[ToolCallBlock(id="call_3", name="execute")]),
        Message(role="tool", content=[ToolResultBlock(tool_call_id="call_3", content="")]),
    ]
    request = ModelRequest(
        model="gpt-test",
        system="Be brief.",
        messages=history,
        tools=[spec],
        max_output_tokens=1234,
        temperature=0.3,
        reasoning_effort="low",
    )
    await collect(provider, request)
    sent = fake_llm.requests[-1].body
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look at this"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                {"type": "text", "text": "[image unavailable]"},
            ],
        },
        {
            "role": "assistant",
            "content": "Running two commands.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "execute", "arguments": '{"command": "ls"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "execute", "arguments": '{"command": "false"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "a.py"},
        {"role": "tool", "tool_call_id": "call_2", "content": "Error: exit 1"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_3",
                    "type": "function",
                    "function": {"name": "execute", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_3", "content": "(no output)"},
    ]
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "execute",
                "description": "Run a command",
                "parameters": spec.parameters,
            },
        }
    ]
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["max_completion_tokens"] == 1234 and "max_tokens" not in sent
    assert sent["temperature"] == 0.3
    assert sent["reasoning_effort"] == "low"
    assert fake_llm.requests[-1].headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.asyncio
async def test_compat_flags_usage_and_max_tokens(fake_llm: FakeLLM) -> None:
    fake_llm.script("default", [reply(text("hi there"))])
    provider = OpenAIChatProvider(
        "local",
        KEY,
        base_url=fake_llm.openai_base_url,
        include_usage=False,
        max_tokens_param="max_tokens",
        headers={"X-Title": "coder-agents"},
    )
    try:
        _, done = await collect(provider, ask())
    finally:
        await provider.aclose()
    recorded = fake_llm.requests[-1]
    assert "stream_options" not in recorded.body
    assert recorded.body["max_tokens"] == 8192 and "max_completion_tokens" not in recorded.body
    assert recorded.headers["x-title"] == "coder-agents"
    assert done.message.text() == "hi there"
    assert done.usage == Usage()  # no usage chunk was asked for, none came


@pytest.mark.asyncio
async def test_gemini_empty_ids_and_thought_signature_roundtrip(
    fake_llm: FakeLLM,
    provider: OpenAIChatProvider,
) -> None:
    exchanges = json.loads(
        (FIXTURES / "gemini-openai-compat" / "chat-tool-call-roundtrip.json").read_text()
    )
    first_response = exchanges[0]["response"]["body"]
    wire_call = first_response["choices"][0]["message"]["tool_calls"][0]
    extra = first_response["choices"][0]["message"]["extra_content"]
    # The recorded answer as Gemini streams it: the whole call in one chunk, with an empty id.
    chunk = {
        "id": first_response["id"],
        "object": "chat.completion.chunk",
        "created": first_response["created"],
        "model": first_response["model"],
        "choices": [
            {
                "index": 0,
                "delta": {
                    "role": "assistant",
                    "tool_calls": [{**wire_call, "index": 0, "extra_content": extra}],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": first_response["usage"],
    }
    fake_llm.replay(f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode())
    prompt = Message(role="user", content=[TextBlock(text="What is the current time?")])
    _, done = await collect(provider, ask().model_copy(update={"messages": [prompt]}))
    call = done.message.tool_calls()[0]
    assert call.id.startswith("call_") and len(call.id) > len("call_")
    assert (call.name, call.input) == ("get_current_time", {})
    assert call.provider_data == {"extra_content": extra}
    assert done.usage.input_tokens == 35 and done.usage.output_tokens == 12

    fake_llm.script("default", [reply(text("The current time is Noon."))])
    result = Message(role="tool", content=[ToolResultBlock(tool_call_id=call.id, content="Noon")])
    await collect(provider, ask().model_copy(update={"messages": [prompt, done.message, result]}))
    sent = fake_llm.requests[-1].body["messages"]
    recorded = exchanges[1]["request"]["body"]["messages"]
    recorded_id = recorded[1]["tool_calls"][0]["id"]
    assert sent[1]["tool_calls"][0].pop("extra_content") == extra  # Gemini 3 requires it back
    assert sent[1].pop("content") is None
    assert json.loads(json.dumps(sent).replace(call.id, recorded_id)) == recorded


@pytest.mark.asyncio
async def test_openrouter_reasoning_details_go_back(
    fake_llm: FakeLLM,
    provider: OpenAIChatProvider,
) -> None:
    fake_llm.replay(FIXTURES / "openrouter" / "chat-stream-reasoning-claude.txt")
    prompt = Message(role="user", content=[TextBlock(text="2+2?")])
    _, done = await collect(provider, ask().model_copy(update={"messages": [prompt]}))
    fake_llm.script("default", [reply(text("yes"))])
    again = Message(role="user", content=[TextBlock(text="sure?")])
    await collect(provider, ask().model_copy(update={"messages": [prompt, done.message, again]}))
    assistant = fake_llm.requests[-1].body["messages"][1]
    assert assistant["content"] == "2 + 2 = 4"
    (detail,) = assistant["reasoning_details"]
    assert detail["type"] == "reasoning.text" and detail["format"] == "anthropic-claude-v1"
    assert detail["signature"].startswith("Et0BCkgIChACGAIqQA2s7h7tA7IG35")


# ----- scripted behaviour and edge cases -----


@pytest.mark.asyncio
async def test_scripted_reasoning_and_parallel_calls(
    fake_llm: FakeLLM,
    provider: OpenAIChatProvider,
) -> None:
    fake_llm.script(
        "default",
        [
            reply(
                thinking("Two reads at once."),
                tool_call("read_file", {"path": "a.py"}),
                tool_call("read_file", {"path": "b.py"}),
                usage=Usage(input_tokens=100, cache_read_tokens=400, output_tokens=20),
            )
        ],
    )
    events, done = await collect(provider, ask())
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "Two reads at once."
    assert [(c.name, c.input) for c in done.message.tool_calls()] == [
        ("read_file", {"path": "a.py"}),
        ("read_file", {"path": "b.py"}),
    ]
    assert len({c.id for c in done.message.tool_calls()}) == 2
    assert done.stop_reason == "tool_use"
    assert done.usage == Usage(input_tokens=100, cache_read_tokens=400, output_tokens=20)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("stop", "expected"),
    [("content_filter", "content_filter"), ("max_tokens", "max_tokens"), (None, "end_turn")],
)
async def test_finish_reasons(
    fake_llm: FakeLLM,
    provider: OpenAIChatProvider,
    stop: str | None,
    expected: str,
) -> None:
    fake_llm.script("default", [reply(text("x"), stop_reason=stop)])
    _, done = await collect(provider, ask())
    assert done.stop_reason == expected


def _stream(*deltas: dict[str, Any], finish: str | None = "stop") -> bytes:
    frames = []
    for delta in deltas:
        chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m"}
        chunk["choices"] = [{"index": 0, "delta": delta, "finish_reason": None}]
        frames.append(f"data: {json.dumps(chunk)}\n\n")
    if finish:
        end = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m"}
        end["choices"] = [{"index": 0, "delta": {}, "finish_reason": finish}]
        frames.append(f"data: {json.dumps(end)}\n\n")
    return ("".join(frames) + "data: [DONE]\n\n").encode()


@pytest.mark.asyncio
async def test_reasoning_content_refusal_and_cut_arguments(
    fake_llm: FakeLLM,
    provider: OpenAIChatProvider,
) -> None:
    fake_llm.replay(_stream({"reasoning_content": "hm"}, {"refusal": "I can't help with that."}))
    events, done = await collect(provider, ask())
    assert [type(e).__name__ for e in events] == ["ReasoningDelta", "TextDelta"]
    assert done.stop_reason == "refusal"
    assert done.message.text() == "I can't help with that."

    cut = {"index": 0, "id": "call_x", "type": "function"}
    cut["function"] = {"name": "write_file", "arguments": '{"path": "a.py", "cont'}
    fake_llm.replay(_stream({"tool_calls": [cut]}, finish="length"))
    events, done = await collect(provider, ask())
    assert [e.name for e in events if isinstance(e, ToolCallStarted)] == ["write_file"]
    assert done.message.tool_calls() == [] and done.stop_reason == "max_tokens"


@pytest.mark.asyncio
async def test_missing_finish_reason_is_inferred(
    fake_llm: FakeLLM,
    provider: OpenAIChatProvider,
) -> None:
    call = {"index": 0, "id": "call_y", "type": "function"}
    call["function"] = {"name": "execute", "arguments": '{"command": "ls"}'}
    fake_llm.replay(_stream({"tool_calls": [call]}, finish=None))
    _, done = await collect(provider, ask())
    assert done.stop_reason == "tool_use"


@pytest.mark.asyncio
async def test_empty_stream_is_an_error(
    fake_llm: FakeLLM,
    provider: OpenAIChatProvider,
) -> None:
    fake_llm.replay(b"data: [DONE]\n\n")
    with pytest.raises(ProviderError) as info:
        await collect(provider, ask())
    assert (info.value.kind, info.value.retryable) == ("connection", True)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "retryable", "retry_after"),
    [
        (
            429,
            {"error": {"message": "Rate limit reached", "type": "requests", "code": None}},
            {"retry-after-ms": "1500"},
            "rate_limit",
            True,
            1.5,
        ),
        (
            429,
            {"error": {"message": "You exceeded your current quota", "code": "insufficient_quota"}},
            {"retry-after": "0"},
            "rate_limit",
            False,
            0.0,
        ),
        (
            400,
            {
                "error": {
                    "message": "This model's maximum context length is 128000 tokens.",
                    "code": "context_length_exceeded",
                }
            },
            {},
            "context_overflow",
            False,
            None,
        ),
        (
            400,
            {"error": {"message": "Flagged by the content filter", "code": "content_filter"}},
            {},
            "content_filter",
            False,
            None,
        ),
        (
            503,
            {"error": {"message": "upstream unavailable"}},
            {"retry-after": "0"},
            "overloaded",
            True,
            0.0,
        ),
    ],
)
async def test_http_errors(
    fake_llm: FakeLLM,
    provider: OpenAIChatProvider,
    status: int,
    body: dict[str, Any],
    headers: dict[str, str],
    kind: str,
    retryable: bool,
    retry_after: float | None,
) -> None:
    fake_llm.script("default", [reply(error=(status, body, headers))])
    with pytest.raises(ProviderError) as info:
        await collect(provider, ask())
    err = info.value
    assert (err.kind, err.status_code, err.retryable, err.retry_after) == (
        kind,
        status,
        retryable,
        retry_after,
    )
    assert err.message == body["error"]["message"]
    assert KEY not in err.describe()


@pytest.mark.asyncio
async def test_web_search_is_ignored_with_a_log_line(
    fake_llm: FakeLLM, provider: OpenAIChatProvider, caplog: pytest.LogCaptureFixture
) -> None:
    fake_llm.script("default", [reply(text("No search here."))])
    with caplog.at_level("INFO"):
        _, done = await collect(provider, ask(web_search=True))
        await collect(provider, ask(web_search=True))
    assert done.message.text() == "No search here."
    assert "tools" not in fake_llm.requests[-1].body
    assert caplog.text.count("web search is not supported over Chat Completions") == 1
