"""AnthropicProvider against the fake vendor: recorded streams, request shapes, errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from coder_agents_jupyter.errors import ProviderError
from coder_agents_jupyter.llm.anthropic import (
    SERVER_BLOCKS,
    WEB_SEARCH_TOOL,
    AnthropicProvider,
    build_params,
    to_wire_messages,
)
from coder_agents_jupyter.llm.types import (
    ImageBlock,
    Message,
    ModelRequest,
    ReasoningBlock,
    ReasoningDelta,
    Source,
    SourcesBlock,
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
from coder_agents_jupyter.testing import (
    FakeLLM,
    RawReply,
    reply,
    text,
    thinking,
    tool_call,
    web_search,
)

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "llm"
ANTHROPIC = FIXTURES / "anthropic"
KEY = "sk-ant-test-key-0123456789abcdef"


@pytest_asyncio.fixture
async def provider(fake_llm: FakeLLM) -> AsyncIterator[AnthropicProvider]:
    p = AnthropicProvider("anthropic", KEY, base_url=fake_llm.base_url, max_retries=0)
    try:
        yield p
    finally:
        await p.aclose()


def ask(prompt: str = "hello", **kwargs: Any) -> ModelRequest:
    return ModelRequest(
        model="claude-test",
        messages=[Message(role="user", content=[TextBlock(text=prompt)])],
        **kwargs,
    )


async def collect(
    provider: AnthropicProvider, request: ModelRequest
) -> tuple[list[StreamEvent], StreamDone]:
    events = [e async for e in provider.stream(request)]
    assert sum(isinstance(e, StreamDone) for e in events) == 1
    assert isinstance(events[-1], StreamDone)
    return events[:-1], events[-1]


# ----- every recorded stream, through the real SDK -----

THINKING_TEXT = (
    "This is a straightforward question about pedestrian safety. I should provide clear, helpful "
    "advice about how to safely cross a street. This is basic safety information that could help "
    "prevent accidents."
)

EXPECTED: dict[str, dict[str, Any]] = {
    "messages-stream-text.txt": {
        "text": "[12345,67890]",
        "stop": "end_turn",
        "usage": (135, 10, 0, 0),
    },
    "messages-stream-tool-use.txt": {
        "text": "",
        "calls": [
            (
                "toolu_01TJoxvFknVdnV9XpWFPaRmY",
                "get_weather",
                {"location": "San Francisco, CA", "units": "f"},
            )
        ],
        "stop": "tool_use",
        "usage": (656, 74, 0, 0),
    },
    "messages-stream-after-tool-result.txt": {
        "text": "The weather in San Francisco, CA is currently **68°F and Sunny**. "
        "It's a nice day!",
        "stop": "end_turn",
        "usage": (770, 27, 0, 0),
    },
    "messages-stream-text-then-tool-use.txt": {
        "text": "I'll check the current weather in Paris for you.",
        "calls": [("toolu_01NRLabsLyVHZPKxbKvkfSMn", "get_weather", {"location": "Paris"})],
        "stop": "tool_use",
        "usage": (377, 65, 0, 0),
    },
    "messages-stream-tool-use-max-tokens.txt": {
        "text": "I'll create a comprehensive tax guide for someone with multiple W2s and save "
        "it in a file called taxes.txt. Let me do that for you now.",
        "started": [("toolu_01EKqbqmZrGRXy18eN7m9kvY", "make_file")],
        "calls": [],  # the cut-off call is left out
        "stop": "max_tokens",
        "usage": (450, 124, 0, 0),
    },
    "messages-stream-thinking.txt": {
        "reasoning": THINKING_TEXT,
        "signature": ("EvMCCkYICxgCKkCHP2cSuEdcJK/0rFwqES/ecn+V", "gb7wwzDvP/UhjfQYAQ==", 504),
        "text_start": "Here are the basic steps for safely crossing the street:\n\n",
        "text_end": "Always prioritize safety over speed when crossing streets.",
        "text_len": 1021,
        "stop": "end_turn",
        "usage": (43, 282, 0, 0),
    },
    "messages-stream-redacted-thinking.txt": {
        "redacted": [
            ("EqkECkYIBxgCKkA8AZ4noDfV5VcOJe", "XXjpot45vnBd4ewJ/hgB", 744),
            ("EtgBCkYIBxgCKkDQfGkwzflEJP5asG", "uab/DBV3yRYdZ1J0GAE=", 296),
        ],
        "text_start": "I notice that you've sent what appears to be some kind of test string",
        "text_end": "How can I assist you today with a legitimate task or question?",
        "stop": "end_turn",
        "usage": (92, 189, 0, 0),
    },
    "messages-stream-tool-no-args.datalines.txt": {
        "text": "I'll update the issue list for you.",
        "calls": [("toolu_01QE1WLsSVp5hy5Q3GmGTmjP", "updateIssueList", {})],
        "stop": "tool_use",
        "usage": (565, 48, 0, 0),
    },
}


def test_every_anthropic_fixture_has_expectations() -> None:
    assert sorted(p.name for p in ANTHROPIC.glob("*.txt")) == sorted(EXPECTED)


@pytest.mark.asyncio
@pytest.mark.parametrize("chunk_size", [None, 7], ids=["per-event", "7-byte-chunks"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_replay_fixture(
    fake_llm: FakeLLM,
    provider: AnthropicProvider,
    name: str,
    chunk_size: int | None,
) -> None:
    expected = EXPECTED[name]
    fake_llm.replay(ANTHROPIC / name, chunk_size=chunk_size)
    events, done = await collect(provider, ask())

    streamed_text = "".join(e.text for e in events if isinstance(e, TextDelta))
    streamed_reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    started = [(e.id, e.name) for e in events if isinstance(e, ToolCallStarted)]
    message = done.message
    assert message.role == "assistant"
    assert streamed_text == message.text()
    if "text" in expected:
        assert message.text() == expected["text"]
    if "text_start" in expected:
        assert message.text().startswith(expected["text_start"])
        assert message.text().endswith(expected["text_end"])
    if "text_len" in expected:
        assert len(message.text()) == expected["text_len"]
    assert all(b.text for b in message.content if isinstance(b, TextBlock))

    reasoning = [b for b in message.content if isinstance(b, ReasoningBlock)]
    if "reasoning" in expected:
        assert streamed_reasoning == expected["reasoning"]
        assert [b.text for b in reasoning] == [expected["reasoning"]]
        head, tail, length = expected["signature"]
        signature = reasoning[0].signature or ""
        assert signature.startswith(head) and signature.endswith(tail) and len(signature) == length
        assert message.content[0] is reasoning[0]  # thinking comes first
    elif "redacted" in expected:
        assert streamed_reasoning == ""
        assert len(reasoning) == len(expected["redacted"])
        for block, (head, tail, length) in zip(reasoning, expected["redacted"], strict=True):
            data = block.redacted_data or ""
            assert data.startswith(head) and data.endswith(tail) and len(data) == length
            assert block.text == "" and block.signature is None
    else:
        assert reasoning == [] and streamed_reasoning == ""

    calls = [(c.id, c.name, c.input) for c in message.tool_calls()]
    assert calls == expected.get("calls", [])
    assert started == expected.get("started", [(c[0], c[1]) for c in calls])
    assert done.stop_reason == expected["stop"]
    usage = done.usage
    assert (
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_tokens,
        usage.cache_write_tokens,
    ) == expected["usage"]


@pytest.mark.asyncio
async def test_tool_use_keeps_caller_for_the_echo(
    fake_llm: FakeLLM,
    provider: AnthropicProvider,
) -> None:
    fake_llm.replay(ANTHROPIC / "messages-stream-tool-use.txt")
    _, done = await collect(provider, ask())
    assert done.message.tool_calls()[0].provider_data == {"caller": {"type": "direct"}}


# ----- neutral -> wire: the request after a tool call matches recorded accepted requests -----


def _normalise(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """String content as a text block list; ``is_error: false`` as absent (both are accepted)."""
    out = []
    for m in messages:
        content = m["content"]
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        blocks = []
        for block in content:
            block = {k: v for k, v in block.items() if not (k == "is_error" and v is False)}
            block.pop("cache_control", None)
            blocks.append(block)
        out.append({"role": m["role"], "content": blocks})
    return out


@pytest.mark.asyncio
async def test_roundtrip_matches_recorded_tool_result_request(
    fake_llm: FakeLLM,
) -> None:
    recorded = json.loads((ANTHROPIC / "request-tool-result-roundtrip.json").read_text())
    tool = recorded["tools"][0]
    spec = ToolSpec(
        name=tool["name"], description=tool["description"], parameters=tool["input_schema"]
    )
    provider = AnthropicProvider(
        "anthropic", KEY, base_url=fake_llm.base_url, max_retries=0, prompt_caching=False
    )
    try:
        # Turn 1: the model's recorded tool call, parsed by our adapter.
        fake_llm.replay(ANTHROPIC / "messages-stream-tool-use.txt")
        prompt = Message(role="user", content=[TextBlock(text="What is the weather in SF?")])
        first = ModelRequest(
            model=recorded["model"],
            messages=[prompt],
            tools=[spec],
            max_output_tokens=recorded["max_tokens"],
        )
        _, done = await collect(provider, first)
        call = done.message.tool_calls()[0]
        result = Message(
            role="tool",
            content=[ToolResultBlock(tool_call_id=call.id, content=recorded_result(recorded))],
        )
        # Turn 2: what we send back must have the recorded shape.
        fake_llm.replay(ANTHROPIC / "messages-stream-after-tool-result.txt")
        second = first.model_copy(update={"messages": [prompt, done.message, result]})
        _, final = await collect(provider, second)
    finally:
        await provider.aclose()
    assert final.message.text().startswith("The weather in San Francisco")
    sent = fake_llm.requests[-1].body
    assert _normalise(sent["messages"]) == _normalise(recorded["messages"])
    assert sent["tools"] == recorded["tools"]
    assert sent["model"] == recorded["model"]
    assert sent["max_tokens"] == recorded["max_tokens"]
    assert sent["stream"] is True
    assert "system" not in sent and "temperature" not in sent


def recorded_result(recorded: dict[str, Any]) -> str:
    return recorded["messages"][2]["content"][0]["content"]


@pytest.mark.asyncio
async def test_roundtrip_matches_recorded_thinking_request(
    fake_llm: FakeLLM,
) -> None:
    recorded = json.loads((ANTHROPIC / "request-thinking-tool-result-roundtrip.json").read_text())
    thinking_block, text_block, tool_use = recorded["messages"][1]["content"]
    tool = recorded["tools"][0]
    history = [
        Message(
            role="user", content=[TextBlock(text=recorded["messages"][0]["content"][0]["text"])]
        ),
        Message(
            role="assistant",
            # Stored in a different order on purpose: the adapter puts thinking first.
            content=[
                TextBlock(text=text_block["text"]),
                ToolCallBlock(id=tool_use["id"], name=tool_use["name"], input=tool_use["input"]),
                ReasoningBlock(
                    text=thinking_block["thinking"], signature=thinking_block["signature"]
                ),
            ],
        ),
        Message(
            role="tool",
            content=[ToolResultBlock(tool_call_id=tool_use["id"], content="Mexico")],
        ),
    ]
    request = ModelRequest(
        model="claude-test",  # the recorded id is deprecated: the SDK would warn
        messages=history,
        tools=[
            ToolSpec(
                name=tool["name"], description=tool["description"], parameters=tool["input_schema"]
            )
        ],
        max_output_tokens=recorded["max_tokens"],
        reasoning_effort=str(recorded["thinking"]["budget_tokens"]),
        temperature=0.2,  # must be dropped: thinking forbids a custom temperature
    )
    fake_llm.script("default", [reply(text("Mexico City."))])
    provider = AnthropicProvider("anthropic", KEY, base_url=fake_llm.base_url, max_retries=0)
    try:
        _, done = await collect(provider, request)
    finally:
        await provider.aclose()
    assert done.message.text() == "Mexico City."
    sent = fake_llm.requests[-1].body
    assert _normalise(sent["messages"]) == _normalise(recorded["messages"])
    assert sent["thinking"] == recorded["thinking"]
    assert sent["tools"] == recorded["tools"]
    assert "temperature" not in sent
    # Prompt caching marks the newest block (a tool_result here).
    assert sent["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}


@pytest.mark.asyncio
async def test_scripted_tool_loop_echoes_thinking_and_tool_use(
    fake_llm: FakeLLM,
    provider: AnthropicProvider,
) -> None:
    fake_llm.script(
        "loop",
        [
            reply(
                thinking("I should list files."),
                text("Listing."),
                tool_call("execute", {"command": "ls"}),
                tool_call("read_file", {"path": "a.py"}),
            ),
            reply(text("Done.")),
        ],
    )
    prompt = Message(role="user", content=[TextBlock(text="#loop look around")])
    request = ask(system="You are terse.")
    request = request.model_copy(update={"messages": [prompt]})
    _, first = await collect(provider, request)
    calls = first.message.tool_calls()
    assert [c.name for c in calls] == ["execute", "read_file"]
    assert first.stop_reason == "tool_use"
    results = Message(
        role="tool",
        content=[
            ToolResultBlock(tool_call_id=calls[0].id, content="a.py\n"),
            ToolResultBlock(tool_call_id=calls[1].id, content="", is_error=True),
        ],
    )
    follow_up = Message(role="user", content=[TextBlock(text="and then?")])
    second = request.model_copy(update={"messages": [prompt, first.message, results, follow_up]})
    _, done = await collect(provider, second)
    assert done.message.text() == "Done."

    sent = fake_llm.requests_for("loop")[1].body
    assert sent["system"] == [
        {"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}
    ]
    assistant = sent["messages"][1]
    assert [b["type"] for b in assistant["content"]] == ["thinking", "text", "tool_use", "tool_use"]
    assert assistant["content"][0]["signature"]  # the fake's signature went back verbatim
    assert assistant["content"][2] == {
        "type": "tool_use",
        "id": calls[0].id,
        "name": "execute",
        "input": {"command": "ls"},
    }
    user = sent["messages"][2]
    assert len(sent["messages"]) == 3  # tool results and the follow-up merged into one user turn
    assert [b["type"] for b in user["content"]] == ["tool_result", "tool_result", "text"]
    assert user["content"][1] == {
        "type": "tool_result",
        "tool_use_id": calls[1].id,
        "content": "(no output)",
        "is_error": True,
    }


# ----- message mapping details -----


def test_wire_messages_skip_empty_text_and_merge_roles() -> None:
    wire = to_wire_messages(
        [
            Message(role="user", content=[TextBlock(text="  "), TextBlock(text="hi")]),
            Message(role="user", content=[TextBlock(text="again")]),
            Message(role="assistant", content=[TextBlock(text=""), TextBlock(text="ok")]),
            Message(role="assistant", content=[ReasoningBlock(text="unsigned thought")]),
        ]
    )
    assert wire == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "again"}],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
    ]


def _chat_history(n: int) -> list[Message]:
    """A user prompt, then steps of (tool call, result), some with an empty answer and a
    user follow-up merged into the results' turn."""
    out = [Message(role="user", content=[TextBlock(text="start")])]
    for i in range(n):
        call = ToolCallBlock(id=f"c{i}", name="execute", input={"command": f"echo {i}"})
        text = TextBlock(text="" if i % 4 == 3 else f"step {i}")
        out.append(Message(role="assistant", content=[text, call]))
        out.append(
            Message(role="tool", content=[ToolResultBlock(tool_call_id=f"c{i}", content=str(i))])
        )
        if i % 5 == 4:
            out.append(Message(role="user", content=[TextBlock(text=f"also {i}")]))
    return out


def _fresh(messages: list[Message]) -> list[Message]:
    return [m.model_copy(deep=True) for m in messages]


def test_wire_messages_are_the_same_when_built_step_by_step() -> None:
    history = _chat_history(30)
    for n in range(1, len(history) + 1):
        got = to_wire_messages(history[:n])
        assert got == to_wire_messages(_fresh(history[:n])), n
        last = got[-1]["content"]  # the last turn's list is the caller's own, not its blocks
        last[-1] = {**last[-1], "tampered": True}
        got[-1]["content"].append({"type": "text", "text": "extra"})
    # Going back (a retried step, a compaction's cut) and on again, and a changed last message
    assert to_wire_messages(history[:7]) == to_wire_messages(_fresh(history[:7]))
    changed = [*history[:9], Message(role="user", content=[TextBlock(text="other")])]
    assert to_wire_messages(changed) == to_wire_messages(_fresh(changed))
    assert to_wire_messages(history) == to_wire_messages(_fresh(history))
    params = build_params(
        ModelRequest(model="m", messages=history), prompt_caching=True
    )  # marks its own copy of the newest block only
    assert to_wire_messages(history) == to_wire_messages(_fresh(history))
    assert "cache_control" in params["messages"][-1]["content"][-1]


def test_images_and_unavailable_images() -> None:
    png = (
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
        "AAAABJRU5ErkJggg=="
    )
    wire = to_wire_messages(
        [
            Message(
                role="user",
                content=[
                    TextBlock(text="what is this?"),
                    ImageBlock(attachment_id="a1", media_type="image/png", data=png),
                    ImageBlock(attachment_id="a2", data="/9j/4AAQSkZJRg=="),
                    ImageBlock(attachment_id="a3"),
                ],
            )
        ]
    )
    content = wire[0]["content"]
    assert content[1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": png},
    }
    assert content[2]["source"]["media_type"] == "image/jpeg"
    assert content[3] == {"type": "text", "text": "[image unavailable]"}


def test_redacted_thinking_goes_back_first() -> None:
    wire = to_wire_messages(
        [
            Message(role="user", content=[TextBlock(text="q")]),
            Message(
                role="assistant",
                content=[
                    ReasoningBlock(redacted_data="opaque"),
                    TextBlock(text="answer"),
                ],
            ),
        ]
    )
    assert wire[1]["content"] == [
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "text", "text": "answer"},
    ]


@pytest.mark.parametrize(
    ("effort", "max_tokens", "expected"),
    [
        (None, 8192, None),
        ("none", 8192, None),
        ("low", 8192, {"type": "enabled", "budget_tokens": 2048}),
        ("high", 8192, {"type": "enabled", "budget_tokens": 8191}),
        ("adaptive", 8192, {"type": "adaptive"}),
        ("medium", 1000, None),  # no room for the 1024-token minimum
    ],
)
def test_thinking_config(effort: str | None, max_tokens: int, expected: Any) -> None:
    request = ask(reasoning_effort=effort, max_output_tokens=max_tokens, temperature=0.5)
    params = build_params(request)
    assert params.get("thinking") == expected
    assert ("temperature" in params) == (expected is None)


# ----- failures -----


@pytest.mark.asyncio
async def test_in_stream_error_event_becomes_provider_error(
    fake_llm: FakeLLM,
    provider: AnthropicProvider,
) -> None:
    fake_llm.script(
        "default",
        [
            reply(
                text("partial answer"),
                stream_error={"type": "overloaded_error", "message": "Overloaded"},
            )
        ],
    )
    seen: list[StreamEvent] = []
    with pytest.raises(ProviderError) as info:
        async for event in provider.stream(ask()):
            seen.append(event)
    assert "".join(e.text for e in seen if isinstance(e, TextDelta)) == "partial answer"
    err = info.value
    assert (err.kind, err.retryable, err.status_code) == ("overloaded", True, None)
    assert err.message == "Overloaded" and err.provider == "anthropic"


@pytest.mark.asyncio
async def test_recorded_429_becomes_rate_limit(
    fake_llm: FakeLLM,
    provider: AnthropicProvider,
) -> None:
    recorded = json.loads((ANTHROPIC / "error-429-rate-limit.json").read_text())
    headers = {"x-should-retry": "true", "retry-after": "7"}
    fake_llm.script("default", [reply(error=(429, recorded["body"], headers))])
    with pytest.raises(ProviderError) as info:
        await collect(provider, ask())
    err = info.value
    assert (err.kind, err.status_code, err.retryable, err.retry_after) == (
        "rate_limit",
        429,
        True,
        7.0,
    )
    assert err.message.startswith("This request would exceed your organization's rate limit")
    assert KEY not in err.describe()


@pytest.mark.asyncio
async def test_recorded_400_becomes_bad_request(
    fake_llm: FakeLLM,
    provider: AnthropicProvider,
) -> None:
    recorded = json.loads((ANTHROPIC / "error-400-tool-result-without-tool-use.json").read_text())
    response = recorded["response"]
    fake_llm.script("default", [reply(error=(400, response["body"], response["headers"]))])
    with pytest.raises(ProviderError) as info:
        await collect(provider, ask())
    err = info.value
    assert (err.kind, err.status_code, err.retryable) == ("bad_request", 400, False)
    assert "unexpected `tool_use_id`" in err.message


@pytest.mark.asyncio
async def test_sdk_retries_then_succeeds(fake_llm: FakeLLM) -> None:
    fake_llm.script(
        "default",
        [
            reply(error=(529, {"type": "error", "error": {"type": "overloaded_error"}})),
            reply(text("second try")),
        ],
    )
    provider = AnthropicProvider("anthropic", KEY, base_url=fake_llm.base_url, max_retries=2)
    try:
        _, done = await collect(provider, ask())
    finally:
        await provider.aclose()
    assert done.message.text() == "second try"
    assert [r.index for r in fake_llm.requests] == [0, 1]


@pytest.mark.asyncio
async def test_wrong_key_is_auth_error_without_the_key(fake_llm: FakeLLM) -> None:
    fake_llm.api_key = "the-right-key"
    try:
        provider = AnthropicProvider("anthropic", KEY, base_url=fake_llm.base_url, max_retries=0)
        with pytest.raises(ProviderError) as info:
            await collect(provider, ask())
        await provider.aclose()
    finally:
        fake_llm.api_key = None
    err = info.value
    assert (err.kind, err.status_code, err.retryable) == ("auth", 401, False)
    assert KEY not in str(err) and err.__cause__ is None
    # The SDK sends the key as ``x-api-key`` or, in newer versions, as a bearer token.
    headers = fake_llm.requests[-1].headers
    assert KEY in (
        headers.get("x-api-key"),
        headers.get("authorization", "").removeprefix("Bearer "),
    )


@pytest.mark.asyncio
async def test_truncated_stream_is_a_retryable_error(
    fake_llm: FakeLLM,
    provider: AnthropicProvider,
) -> None:
    body = (ANTHROPIC / "messages-stream-text.txt").read_bytes()
    fake_llm.replay(body[: body.index(b"event: message_delta")])
    with pytest.raises(ProviderError) as info:
        await collect(provider, ask())
    assert (info.value.kind, info.value.retryable) == ("connection", True)


@pytest.mark.asyncio
async def test_stopping_mid_stream_leaves_the_server_usable(
    fake_llm: FakeLLM,
    provider: AnthropicProvider,
) -> None:
    fake_llm.script(
        "default",
        [reply(text("one two three four five six seven eight nine ten " * 5), delay=0.05)],
    )
    stream = provider.stream(ask())
    first = await asyncio.wait_for(anext(stream), 5)
    assert isinstance(first, TextDelta)
    await stream.aclose()  # what the loop does when a user presses stop
    fake_llm.script("other", [reply(text("still here"))])
    _, done = await asyncio.wait_for(collect(provider, ask("#other")), 5)
    assert done.message.text() == "still here"


# ----- provider-native web search (the web_search server tool) -----

PY = "https://www.python.org/downloads/release/python-3130/"
NEWS = "https://docs.python.org/3.13/whatsnew/3.13.html"
SEARCH = web_search("python 3.13 release date", [(PY, "Python 3.13.0"), (NEWS, "What's New")])
ANSWER = "Python 3.13 was released on 7 October 2024."


def test_web_search_tool_only_when_asked() -> None:
    assert "tools" not in build_params(ask())
    assert build_params(ask(web_search=True))["tools"] == [WEB_SEARCH_TOOL]
    spec = ToolSpec(name="execute", description="run", parameters={"type": "object"})
    tools = build_params(ask(web_search=True, tools=[spec]))["tools"]
    assert [t["name"] for t in tools] == ["execute", "web_search"]
    assert tools[1] == {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}


@pytest.mark.asyncio
async def test_web_search_becomes_sources_and_goes_back_verbatim(
    fake_llm: FakeLLM, provider: AnthropicProvider
) -> None:
    fake_llm.script(
        "search",
        [
            reply(text("Let me look that up."), SEARCH, text(ANSWER, cite=[PY])),
            reply(text("You're welcome.")),
        ],
    )
    first = ask("#search when was python 3.13 released?", web_search=True)
    events, done = await collect(provider, first)
    text_block, sources, answer = done.message.content
    assert text_block == TextBlock(text="Let me look that up.")
    assert answer == TextBlock(text=ANSWER)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == done.message.text()
    assert isinstance(sources, SourcesBlock)
    assert sources.query == "python 3.13 release date"
    assert sources.sources == [
        Source(url=PY, title="Python 3.13.0", snippet=ANSWER),  # the citation quoted it
        Source(url=NEWS, title="What's New"),
    ]
    use, result = (sources.provider_data or {})[SERVER_BLOCKS]
    assert use["type"] == "server_tool_use" and use["id"].startswith("srvtoolu_")
    assert use["input"] == {"query": "python 3.13 release date"}
    assert result["type"] == "web_search_tool_result" and result["tool_use_id"] == use["id"]
    assert [r["url"] for r in result["content"]] == [PY, NEWS]
    assert all(r["encrypted_content"] for r in result["content"])
    assert done.stop_reason == "end_turn" and done.message.tool_calls() == []
    assert fake_llm.requests_for("search")[0].body["tools"] == [WEB_SEARCH_TOOL]

    # The stored blocks survive a round trip through the database's JSON.
    stored = Message.model_validate_json(done.message.model_dump_json())
    follow_up = Message(role="user", content=[TextBlock(text="thanks")])
    second = first.model_copy(update={"messages": [*first.messages, stored, follow_up]})
    _, final = await collect(provider, second)
    assert final.message.text() == "You're welcome."
    assistant = fake_llm.requests_for("search")[1].body["messages"][1]["content"]
    assert [b["type"] for b in assistant] == [
        "text",
        "server_tool_use",
        "web_search_tool_result",
        "text",
    ]
    assert assistant[1] == use and assistant[2] == result  # exactly as received

    # With web search switched off for the model, the search blocks stay out; the text stays.
    wire = build_params(second.model_copy(update={"web_search": False}))
    assert [b["type"] for b in wire["messages"][1]["content"]] == ["text", "text"]
    assert "tools" not in wire


@pytest.mark.asyncio
async def test_pause_turn_is_continued_within_one_call(
    fake_llm: FakeLLM, provider: AnthropicProvider
) -> None:
    fake_llm.script(
        "pause",
        [
            reply(
                text("Searching. "),
                SEARCH,
                text("Reading the pages. "),
                stop_reason="pause_turn",
                usage=Usage(input_tokens=50, output_tokens=10),
            ),
            reply(text(ANSWER, cite=[NEWS]), usage=Usage(input_tokens=90, output_tokens=15)),
        ],
    )
    events, done = await collect(provider, ask("#pause python 3.13?", web_search=True))
    assert [b.type for b in done.message.content] == ["text", "sources", "text", "text"]
    assert done.message.text() == "Searching. Reading the pages. " + ANSWER
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == done.message.text()
    assert done.stop_reason == "end_turn"
    # Output adds up; the input is the last round's, which re-read the whole context.
    assert (done.usage.input_tokens, done.usage.output_tokens) == (90, 25)
    sources = done.message.content[1]
    assert isinstance(sources, SourcesBlock)
    assert sources.sources[1] == Source(url=NEWS, title="What's New", snippet=ANSWER)

    first, second = fake_llm.requests_for("pause")
    continued = second.body["messages"]
    assert len(continued) == 2 and continued[1]["role"] == "assistant"
    assert [b["type"] for b in continued[1]["content"]] == [
        "text",
        "server_tool_use",
        "web_search_tool_result",
        "text",
    ]
    # The API rejects a final assistant block that ends in whitespace.
    assert continued[1]["content"][-1]["text"] == "Reading the pages."
    assert second.body["tools"] == first.body["tools"]


@pytest.mark.asyncio
async def test_web_search_error_and_citations_of_unlisted_pages(
    fake_llm: FakeLLM, provider: AnthropicProvider
) -> None:
    """A failed search keeps its blocks (they must go back) but lists no page; a page cited
    without a search listing it is still kept with the answer."""
    use = {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}
    error = {"type": "web_search_tool_result_error", "error_code": "max_uses_exceeded"}
    result = {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": error}
    citation = {
        "type": "web_search_result_location",
        "url": NEWS,
        "title": "What's New",
        "encrypted_index": "Eo8B",
        "cited_text": "free-threaded build",
    }
    events: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "claude-test",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 10, "output_tokens": 1},
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": use},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": '{"query": "py"}'},
        },
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": result},
        {"type": "content_block_stop", "index": 1},
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {"type": "text", "text": "", "citations": [citation]},
        },
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "text_delta", "text": "It has a free-threaded build."},
        },
        {"type": "content_block_stop", "index": 2},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 9, "server_tool_use": {"web_search_requests": 1}},
        },
        {"type": "message_stop"},
    ]
    lines = "\n".join(json.dumps(e) for e in events).encode()
    fake_llm.replay(RawReply(lines, datalines=True))
    _, done = await collect(provider, ask(web_search=True))
    sources, answer = done.message.content
    assert isinstance(sources, SourcesBlock) and answer == TextBlock(
        text="It has a free-threaded build."
    )
    assert sources.query == "py"
    assert sources.sources == [Source(url=NEWS, title="What's New", snippet="free-threaded build")]
    assert (sources.provider_data or {})[SERVER_BLOCKS] == [
        {**use, "input": {"query": "py"}},
        result,
    ]


@pytest.mark.asyncio
async def test_web_search_over_the_non_streaming_fake(fake_llm: FakeLLM) -> None:
    """The fake's non-streaming answer carries the same blocks (the SDK validates them)."""
    import anthropic

    fake_llm.script("default", [reply(SEARCH, text(ANSWER, cite=[PY]))])
    client = anthropic.AsyncAnthropic(api_key=KEY, base_url=fake_llm.base_url, max_retries=0)
    try:
        message = await client.messages.create(
            model="claude-test", max_tokens=100, messages=[{"role": "user", "content": "q"}]
        )
    finally:
        await client.close()
    assert [b.type for b in message.content] == [
        "server_tool_use",
        "web_search_tool_result",
        "text",
    ]
    assert message.content[2].citations[0].url == PY  # type: ignore[union-attr]
