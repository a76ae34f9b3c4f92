"""OpenAIResponsesProvider (and Azure for both OpenAI adapters) against the fake vendor."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
import pytest_asyncio

from coder_agents_jupyter.errors import ProviderError
from coder_agents_jupyter.llm.openai_chat import OpenAIChatProvider
from coder_agents_jupyter.llm.openai_client import AzureConfig
from coder_agents_jupyter.llm.openai_responses import (
    CALL_ITEM_ID,
    REASONING_ITEM,
    SEARCH_ITEM,
    OpenAIResponsesProvider,
    build_params,
    reasoning_effort,
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
    DEMO_SCRIPT,
    EXHAUSTED_TEXT,
    SUMMARY_REQUEST_MARKER,
    FakeLLM,
    RawReply,
    reply,
    text,
    thinking,
    tool_call,
    web_search,
)

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "llm"
RESPONSES = FIXTURES / "openai-responses"
KEY = "sk-test-openai-key-0123456789abcdef"
AZURE_KEY = "azure-key-0123456789abcdef0123"
API_VERSION = "2025-04-01-preview"


@pytest_asyncio.fixture
async def provider(fake_llm: FakeLLM) -> AsyncIterator[OpenAIResponsesProvider]:
    p = OpenAIResponsesProvider("openai", KEY, base_url=fake_llm.openai_base_url, max_retries=0)
    try:
        yield p
    finally:
        await p.aclose()


def user(prompt: str) -> Message:
    return Message(role="user", content=[TextBlock(text=prompt)])


def ask(prompt: str = "hello", **kwargs: Any) -> ModelRequest:
    return ModelRequest(model="gpt-test", messages=[user(prompt)], **kwargs)


async def collect(
    provider: OpenAIResponsesProvider | OpenAIChatProvider, request: ModelRequest
) -> tuple[list[StreamEvent], StreamDone]:
    events = [e async for e in provider.stream(request)]
    assert sum(isinstance(e, StreamDone) for e in events) == 1
    assert isinstance(events[-1], StreamDone)
    return events[:-1], events[-1]


def payloads(path: Path) -> list[dict[str, Any]]:
    """The JSON payloads of a recorded stream, whichever of the two file formats it is in."""
    lines = path.read_text().splitlines()
    if path.name.endswith(".datalines.txt"):
        return [json.loads(line) for line in lines if line.strip()]
    return [json.loads(line[6:]) for line in lines if line.startswith("data: ")]


def split_streams(path: Path) -> list[bytes]:
    """The multistep recording holds several streams: cut it at each ``response.created``."""
    streams: list[list[str]] = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        if json.loads(line)["type"] == "response.created":
            streams.append([])
        streams[-1].append(line)
    return ["\n".join(lines).encode() for lines in streams]


def item_done(path: Path, kind: str) -> dict[str, Any]:
    """The first ``output_item.done`` item of ``kind`` in a recording."""
    return next(
        p["item"]
        for p in payloads(path)
        if p["type"] == "response.output_item.done" and p["item"]["type"] == kind
    )


# ----- every recorded stream, through the real SDK -----

MULTISTEP = "responses-stream-reasoning-summary-multistep.datalines.txt"
QUOTA = "responses-stream-error-insufficient-quota.datalines.txt"
SUMMARY = (
    "**Calculating step-by-step using calculator**\n\nI'll compute 12 plus 7, then multiply the "
    "result by 3, and finally multiply that by 10, reporting the final product."
)

# name (or name#step) -> expected text, reasoning (text, encrypted head, tail, length), calls,
# stop reason and usage (input, output, cache_read, reasoning).
EXPECTED: dict[str, dict[str, Any]] = {
    "responses-stream-function-call.txt": {
        "calls": [("call_kL0PCQV7M2WMoVX8V8OtYSAL", "get_capital", {"country": "France"})],
        "stop": "tool_use",
        "usage": (255, 16, 0, 0),
    },
    "responses-stream-text-after-function-output.txt": {
        "text": "The capital of France is Paris.",
        "stop": "end_turn",
        "usage": (278, 9, 0, 0),
    },
    "responses-stream-reasoning-function-call.txt": {
        "reasoning": ("", "gAAAAABoyXvxI6jwG5j6rvTGC7PD6J", "o02bg-rk3VE=", 3896),
        "calls": [("call_CWXgs68YprAjp6t0371hiPOI", "final_result", {"result": 6666})],
        "stop": "tool_use",
        "usage": (53, 469, 0, 448),
    },
    f"{MULTISTEP}#0": {
        "reasoning": (SUMMARY, "gAAAAABpPDIVOKrsHNZ0GwsoEKA_IG", "Nxat0wz4uQ==", 1060),
        "calls": [("call_AB6AaRZ1FYZB2RwS6A5vbdqn", "calculator", {"a": 12, "b": 7, "op": "add"})],
        "stop": "tool_use",
        "usage": (134, 28, 0, 0),
    },
    f"{MULTISTEP}#1": {
        "calls": [
            ("call_Q6pW65MUgW9vF59BmItYGos3", "calculator", {"a": 19, "b": 3, "op": "multiply"})
        ],
        "stop": "tool_use",
        "usage": (221, 26, 0, 0),
    },
    f"{MULTISTEP}#2": {
        "calls": [
            ("call_Zl5vIMnD7dVAjgU6FkhmiCZh", "calculator", {"a": 57, "b": 10, "op": "multiply"})
        ],
        "stop": "tool_use",
        "usage": (260, 26, 0, 0),
    },
    f"{MULTISTEP}#3": {
        "text": "The final result is **570**.",
        "stop": "end_turn",
        "usage": (299, 12, 0, 0),
    },
}


def recorded(name: str, chunk_size: int | None) -> RawReply:
    file, _, step = name.partition("#")
    if step:
        data = split_streams(RESPONSES / file)[int(step)]
        return RawReply(data, datalines=True, chunk_size=chunk_size)
    return RawReply((RESPONSES / file).read_bytes(), chunk_size=chunk_size)


def test_every_responses_fixture_is_covered() -> None:
    names = {name.partition("#")[0] for name in EXPECTED} | {QUOTA}
    assert names == {p.name for p in RESPONSES.glob("*.txt")}
    assert len(split_streams(RESPONSES / MULTISTEP)) == 4


@pytest.mark.asyncio
@pytest.mark.parametrize("chunk_size", [None, 7], ids=["per-event", "7-byte-chunks"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_replay_fixture(
    fake_llm: FakeLLM,
    provider: OpenAIResponsesProvider,
    name: str,
    chunk_size: int | None,
) -> None:
    expected = EXPECTED[name]
    fake_llm.replay(recorded(name, chunk_size))
    events, done = await collect(provider, ask())
    message = done.message

    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == message.text()
    assert message.text() == expected.get("text", "")
    reasoning = [b for b in message.content if isinstance(b, ReasoningBlock)]
    streamed = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    if "reasoning" in expected:
        summary, head, tail, length = expected["reasoning"]
        assert streamed == summary
        (block,) = reasoning
        assert block.text == summary and block.signature is None
        item = (block.provider_data or {})[REASONING_ITEM]
        encrypted = item["encrypted_content"]
        assert encrypted.startswith(head) and encrypted.endswith(tail) and len(encrypted) == length
        assert item["id"].startswith("rs_") and item["type"] == "reasoning"
    else:
        assert reasoning == [] and streamed == ""

    calls = [(c.id, c.name, c.input) for c in message.tool_calls()]
    assert calls == expected.get("calls", [])
    started = [(e.id, e.name) for e in events if isinstance(e, ToolCallStarted)]
    assert started == [(c[0], c[1]) for c in calls]
    assert all(
        (c.provider_data or {})[CALL_ITEM_ID].startswith("fc_") for c in message.tool_calls()
    )
    assert done.stop_reason == expected["stop"]
    usage = done.usage
    assert (
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_tokens,
        usage.reasoning_tokens,
    ) == expected["usage"]


@pytest.mark.asyncio
async def test_encrypted_reasoning_is_taken_from_the_finished_item(
    fake_llm: FakeLLM,
    provider: OpenAIResponsesProvider,
) -> None:
    path = RESPONSES / "responses-stream-reasoning-function-call.txt"
    added = next(
        p["item"]
        for p in payloads(path)
        if p["type"] == "response.output_item.added" and p["item"]["type"] == "reasoning"
    )
    done_item = item_done(path, "reasoning")
    assert (len(added["encrypted_content"]), len(done_item["encrypted_content"])) == (824, 3896)
    fake_llm.replay(path)
    _, done = await collect(provider, ask())
    (block,) = [b for b in done.message.content if isinstance(b, ReasoningBlock)]
    assert (block.provider_data or {})[REASONING_ITEM] == done_item  # the whole item, as sent


@pytest.mark.asyncio
async def test_insufficient_quota_mid_stream_is_a_readable_provider_error(
    fake_llm: FakeLLM,
    provider: OpenAIResponsesProvider,
) -> None:
    fake_llm.replay(RESPONSES / QUOTA)
    with pytest.raises(ProviderError) as info:
        await collect(provider, ask())
    err = info.value
    assert (err.kind, err.retryable, err.provider) == ("rate_limit", False, "openai")
    assert err.message.startswith("You exceeded your current quota, please check your plan")
    assert KEY not in err.describe()


# ----- round trips: what goes back after a tool call -----


@pytest.mark.asyncio
async def test_reasoning_and_call_go_back_after_a_tool_call(
    fake_llm: FakeLLM,
    provider: OpenAIResponsesProvider,
) -> None:
    path = RESPONSES / "responses-stream-reasoning-function-call.txt"
    fake_llm.replay(path)
    prompt = user("What is 6666?")
    _, first = await collect(provider, ask().model_copy(update={"messages": [prompt]}))
    (call,) = first.message.tool_calls()
    result = Message(role="tool", content=[ToolResultBlock(tool_call_id=call.id, content="ok")])
    fake_llm.script("default", [reply(text("Done."))])
    history = [prompt, first.message, result]
    _, second = await collect(
        provider, ask(reasoning_effort="low").model_copy(update={"messages": history})
    )
    assert second.message.text() == "Done."

    sent = fake_llm.requests[-1].body
    recorded_item = item_done(path, "reasoning")
    # Stateless: the reasoning item goes back as received, minus the id nothing stored.
    unstored = {k: v for k, v in recorded_item.items() if k != "id"}
    assert sent["input"] == [
        {"role": "user", "content": "What is 6666?"},
        unstored,
        {
            "type": "function_call",
            "call_id": "call_CWXgs68YprAjp6t0371hiPOI",
            "name": "final_result",
            "arguments": '{"result": 6666}',
        },
        {
            "type": "function_call_output",
            "call_id": "call_CWXgs68YprAjp6t0371hiPOI",
            "output": "ok",
        },
    ]
    assert len(sent["input"][1]["encrypted_content"]) == 3896
    assert sent["store"] is False
    assert sent["include"] == ["reasoning.encrypted_content"]

    # With ``store: true`` the vendor kept the items, so their ids go back too.
    stored = build_params(ask().model_copy(update={"messages": history}), store=True)
    assert stored["input"][1] == recorded_item
    assert stored["input"][2]["id"] == "fc_0050471a34b36ae60068c97bf19d9c819590eaf42c0edc1042"


@pytest.mark.asyncio
async def test_the_recorded_multistep_loop_replays_with_its_reasoning(
    fake_llm: FakeLLM,
    provider: OpenAIResponsesProvider,
) -> None:
    steps = split_streams(RESPONSES / MULTISTEP)
    for data in steps:
        fake_llm.replay(RawReply(data, datalines=True))
    history = [user("Compute (12 + 7) * 3 * 10 with the calculator.")]
    answers = []
    for _ in steps:
        _, done = await collect(
            provider, ask(reasoning_effort="low").model_copy(update={"messages": history})
        )
        answers.append(done)
        history.append(done.message)
        calls = done.message.tool_calls()
        if calls:
            results = [ToolResultBlock(tool_call_id=c.id, content="19") for c in calls]
            history.append(Message(role="tool", content=list(results)))
    assert answers[-1].message.text() == "The final result is **570**."
    assert [a.stop_reason for a in answers] == ["tool_use", "tool_use", "tool_use", "end_turn"]

    last_input = fake_llm.requests[-1].body["input"]
    reasoning = [i for i in last_input if i.get("type") == "reasoning"]
    (item,) = reasoning
    assert item["summary"] == [{"type": "summary_text", "text": SUMMARY}]
    assert len(item["encrypted_content"]) == 1060 and "id" not in item
    calls = [i["call_id"] for i in last_input if i.get("type") == "function_call"]
    outputs = [i["call_id"] for i in last_input if i.get("type") == "function_call_output"]
    assert (
        calls
        == outputs
        == [
            "call_AB6AaRZ1FYZB2RwS6A5vbdqn",
            "call_Q6pW65MUgW9vF59BmItYGos3",
            "call_Zl5vIMnD7dVAjgU6FkhmiCZh",
        ]
    )
    assert [i.get("type", i.get("role")) for i in last_input] == [
        "user",
        "reasoning",
        "function_call",
        "function_call_output",
        "function_call",
        "function_call_output",
        "function_call",
        "function_call_output",
    ]


# ----- neutral -> wire -----

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"


@pytest.mark.asyncio
async def test_request_shape(fake_llm: FakeLLM, provider: OpenAIResponsesProvider) -> None:
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
                ReasoningBlock(text="Anthropic thinking", signature="sig"),  # not ours: dropped
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
                ImageBlock(attachment_id="c", data=PNG),
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
        reasoning_effort="max",
    )
    await collect(provider, request)
    recorded = fake_llm.requests[-1]
    sent = recorded.body
    image = {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}", "detail": "auto"}
    assert sent["input"] == [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "look at this"},
                image,
                {"type": "input_text", "text": "[image unavailable]"},
            ],
        },
        {"role": "assistant", "content": "Running two commands."},
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "execute",
            "arguments": '{"command": "ls"}',
        },
        {
            "type": "function_call",
            "call_id": "call_2",
            "name": "execute",
            "arguments": '{"command": "false"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "a.py"},
        {"type": "function_call_output", "call_id": "call_2", "output": "Error: exit 1"},
        {"role": "user", "content": [image]},  # an image a tool produced follows its result
        {"type": "function_call", "call_id": "call_3", "name": "execute", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_3", "output": "(no output)"},
    ]
    assert sent["instructions"] == "Be brief."
    assert sent["tools"] == [
        {
            "type": "function",
            "name": "execute",
            "description": "Run a command",
            "parameters": spec.parameters,
        }
    ]
    assert sent["reasoning"] == {"effort": "xhigh", "summary": "auto"}
    assert sent["include"] == ["reasoning.encrypted_content"]
    assert (sent["max_output_tokens"], sent["temperature"]) == (1234, 0.3)
    assert (sent["stream"], sent["store"]) == (True, False)
    assert (recorded.path, recorded.protocol) == ("/v1/responses", "responses")
    assert recorded.headers["authorization"] == f"Bearer {KEY}"


def test_optional_fields_stay_out() -> None:
    params = build_params(ask())
    assert set(params) == {"model", "input", "max_output_tokens", "store"}
    assert params["input"] == [{"role": "user", "content": "hello"}]
    off = build_params(ask(reasoning_effort="none"))
    assert off["reasoning"] == {"effort": "none"} and "include" not in off
    forced = build_params(ask(), encrypted_reasoning=True)
    assert forced["include"] == ["reasoning.encrypted_content"] and "reasoning" not in forced
    assert [reasoning_effort(e) for e in ("low", "max", "off", "adaptive", None)] == [
        "low",
        "xhigh",
        "none",
        None,
        None,
    ]


def test_reasoning_without_encrypted_content_is_not_sent_back_unstored() -> None:
    bare = {"id": "rs_1", "type": "reasoning", "summary": []}
    turn = Message(
        role="assistant",
        content=[
            ReasoningBlock(text="", provider_data={REASONING_ITEM: bare}),
            TextBlock(text="Hi."),
        ],
    )
    history = [user("hi"), turn, user("again")]
    unstored = build_params(ask().model_copy(update={"messages": history}))
    assert [i.get("type", i.get("role")) for i in unstored["input"]] == [
        "user",
        "assistant",
        "user",
    ]
    stored = build_params(ask().model_copy(update={"messages": history}), store=True)
    assert stored["input"][1] == bare  # the vendor kept it: the id alone finds it


# ----- scripted answers through the fake Responses endpoint -----


@pytest.mark.asyncio
async def test_scripted_text_and_usage(
    fake_llm: FakeLLM, provider: OpenAIResponsesProvider
) -> None:
    usage = Usage(
        input_tokens=100,
        cache_read_tokens=400,
        cache_write_tokens=5,
        output_tokens=20,
        reasoning_tokens=7,
    )
    fake_llm.script("default", [reply(text("Hello there, how are you today?"), usage=usage)])
    events, done = await collect(provider, ask())
    assert len([e for e in events if isinstance(e, TextDelta)]) > 1  # really streamed
    assert done.message.content == [TextBlock(text="Hello there, how are you today?")]
    assert (done.stop_reason, done.usage) == ("end_turn", usage)


@pytest.mark.asyncio
async def test_scripted_reasoning_and_parallel_calls(
    fake_llm: FakeLLM,
    provider: OpenAIResponsesProvider,
) -> None:
    fake_llm.script(
        "default",
        [
            reply(
                thinking("Two reads at once, then compare them."),
                text("Reading both."),
                tool_call("read_file", {"path": "a.py"}),
                tool_call("read_file", {"path": "b.py"}, id="call_fixed"),
            ),
            reply(text("They match.")),
        ],
    )
    request = ask(reasoning_effort="medium")
    events, done = await collect(provider, request)
    streamed = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    assert streamed == "Two reads at once, then compare them."
    reasoning, answer, *calls = done.message.content
    assert isinstance(reasoning, ReasoningBlock) and reasoning.text == streamed
    item = (reasoning.provider_data or {})[REASONING_ITEM]
    assert item["encrypted_content"].startswith("gAAAA")
    assert answer == TextBlock(text="Reading both.")
    assert [(c.name, c.input) for c in done.message.tool_calls()] == [
        ("read_file", {"path": "a.py"}),
        ("read_file", {"path": "b.py"}),
    ]
    assert done.message.tool_calls()[1].id == "call_fixed"
    started = [e.id for e in events if isinstance(e, ToolCallStarted)]
    assert started == [c.id for c in done.message.tool_calls()] and len(set(started)) == 2
    assert done.stop_reason == "tool_use"

    results = [
        ToolResultBlock(tool_call_id=c.id, content="same") for c in done.message.tool_calls()
    ]
    history = [*request.messages, done.message, Message(role="tool", content=list(results))]
    _, second = await collect(provider, request.model_copy(update={"messages": history}))
    assert second.message.text() == "They match."
    sent = fake_llm.requests[-1].body["input"]
    assert sent[1] == {k: v for k, v in item.items() if k != "id"}
    assert [i.get("type", i.get("role")) for i in sent] == [
        "user",
        "reasoning",
        "assistant",
        "function_call",
        "function_call",
        "function_call_output",
        "function_call_output",
    ]


@pytest.mark.asyncio
async def test_without_a_reasoning_effort_no_encrypted_content_is_asked_for(
    fake_llm: FakeLLM,
    provider: OpenAIResponsesProvider,
) -> None:
    fake_llm.script("default", [reply(thinking("hm"), text("ok"))])
    _, done = await collect(provider, ask())
    assert "include" not in fake_llm.requests[-1].body
    (reasoning,) = [b for b in done.message.content if isinstance(b, ReasoningBlock)]
    assert reasoning.text == "hm"
    assert "encrypted_content" not in (reasoning.provider_data or {})[REASONING_ITEM]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("stop", "expected"),
    [
        ("max_tokens", "max_tokens"),
        ("content_filter", "content_filter"),
        ("refusal", "refusal"),
        (None, "end_turn"),
    ],
)
async def test_stop_reasons(
    fake_llm: FakeLLM,
    provider: OpenAIResponsesProvider,
    stop: str | None,
    expected: str,
) -> None:
    fake_llm.script("default", [reply(text("I can't help with that."), stop_reason=stop)])
    _, done = await collect(provider, ask())
    assert done.stop_reason == expected
    assert done.message.text() == "I can't help with that."


def _stream(*events: dict[str, Any]) -> bytes:
    frames = []
    for n, event in enumerate(events):
        data = json.dumps({**event, "sequence_number": n})
        frames.append(f"event: {event['type']}\ndata: {data}\n\n")
    return "".join(frames).encode()


CREATED = {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}}


@pytest.mark.asyncio
async def test_arguments_cut_by_max_output_tokens_never_run(
    fake_llm: FakeLLM,
    provider: OpenAIResponsesProvider,
) -> None:
    call = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "write_file"}
    fake_llm.replay(
        _stream(
            CREATED,
            {"type": "response.output_item.added", "output_index": 0, "item": call},
            {
                "type": "response.function_call_arguments.delta",
                "item_id": "fc_1",
                "output_index": 0,
                "delta": '{"path": "a.py", "cont',
            },
            {
                "type": "response.incomplete",
                "response": {
                    "id": "resp_1",
                    "status": "incomplete",
                    "incomplete_details": {"reason": "max_output_tokens"},
                    "usage": {"input_tokens": 10, "output_tokens": 5},
                },
            },
        )
    )
    events, done = await collect(provider, ask())
    assert [e.name for e in events if isinstance(e, ToolCallStarted)] == ["write_file"]
    assert (done.message.tool_calls(), done.stop_reason) == ([], "max_tokens")
    assert done.usage == Usage(input_tokens=10, output_tokens=5)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("events", "kind", "retryable", "message"),
    [
        (  # the flat shape of the SDK's own type
            [{"type": "error", "code": "server_error", "message": "boom", "param": None}],
            "server",
            True,
            "boom",
        ),
        (
            [
                {
                    "type": "response.failed",
                    "response": {
                        "id": "resp_1",
                        "status": "failed",
                        "error": {"code": "rate_limit_exceeded", "message": "slow down"},
                    },
                }
            ],
            "rate_limit",
            True,
            "slow down",
        ),
        (  # the nested shape of the live recording: the SDK itself raises
            [{"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}],
            "bad_request",
            False,
            "bad",
        ),
    ],
    ids=["flat-error", "response-failed", "nested-error"],
)
async def test_failures_inside_the_stream(
    fake_llm: FakeLLM,
    provider: OpenAIResponsesProvider,
    events: list[dict[str, Any]],
    kind: str,
    retryable: bool,
    message: str,
) -> None:
    fake_llm.replay(_stream(CREATED, *events))
    with pytest.raises(ProviderError) as info:
        await collect(provider, ask())
    assert (info.value.kind, info.value.retryable, info.value.message) == (
        kind,
        retryable,
        message,
    )


@pytest.mark.asyncio
async def test_scripted_stream_error_and_http_error(
    fake_llm: FakeLLM,
    provider: OpenAIResponsesProvider,
) -> None:
    fake_llm.script(
        "default",
        [
            reply(text("half"), stream_error={"code": "server_error", "message": "died"}),
            reply(error=(429, {"error": {"message": "Rate limit reached", "code": None}})),
        ],
    )
    with pytest.raises(ProviderError) as inside:
        await collect(provider, ask())
    assert (inside.value.kind, inside.value.message) == ("server", "died")
    with pytest.raises(ProviderError) as before:
        await collect(provider, ask())
    assert (before.value.kind, before.value.status_code, before.value.retryable) == (
        "rate_limit",
        429,
        True,
    )


@pytest.mark.asyncio
async def test_a_stream_without_a_terminal_event_is_a_retryable_error(
    fake_llm: FakeLLM,
    provider: OpenAIResponsesProvider,
) -> None:
    fake_llm.replay(_stream(CREATED))
    with pytest.raises(ProviderError) as info:
        await collect(provider, ask())
    assert (info.value.kind, info.value.retryable) == ("connection", True)


# ----- the fake vendor's Responses endpoint -----


def test_responses_wire_framing(fake_llm: FakeLLM) -> None:
    fake_llm.script("default", [reply(thinking("why"), text("hi"), tool_call("f", {"a": 1}))])
    body = {
        "model": "m",
        "stream": True,
        "input": "x",
        "include": ["reasoning.encrypted_content"],
    }
    with httpx2.Client() as client:
        response = client.post(f"{fake_llm.openai_base_url}/responses", json=body)
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = [f for f in response.text.split("\n\n") if f]
    events = []
    for frame in frames:
        event_line, data_line = frame.split("\n")
        payload = json.loads(data_line.removeprefix("data: "))
        assert event_line == f"event: {payload['type']}"
        events.append(payload)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    types = [e["type"] for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed" and "[DONE]" not in response.text
    added = [e["item"] for e in events if e["type"] == "response.output_item.added"]
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert [i["type"] for i in done] == ["reasoning", "message", "function_call"]
    assert len(added[0]["encrypted_content"]) < len(done[0]["encrypted_content"])
    assert events[-1]["response"]["output"] == done


def test_responses_through_the_sync_sdk_stream_helper(fake_llm: FakeLLM) -> None:
    fake_llm.script(
        "default", [reply(text("Calling."), tool_call("f", {"x": 1})), reply(text("B"))]
    )
    client = openai.OpenAI(api_key=KEY, base_url=fake_llm.openai_base_url, max_retries=0)
    try:
        with client.responses.stream(model="m", input="hi") as stream:
            final = stream.get_final_response()
        assert final.output_text == "Calling."
        assert json.loads(final.output[1].arguments) == {"x": 1}  # type: ignore[union-attr]
        whole = client.responses.create(model="m", input="hi")  # not streamed
        assert whole.output_text == "B" and whole.status == "completed"
    finally:
        client.close()


@pytest.mark.asyncio
async def test_scripts_follow_the_responses_input(
    fake_llm: FakeLLM,
    provider: OpenAIResponsesProvider,
) -> None:
    fake_llm.script("bugfix", [reply(text("fix 1")), reply(text("fix 2"))])
    fake_llm.summary_text = "SUMMARY: one fix."
    first = user("please #bugfix this")
    one = await collect(provider, ask().model_copy(update={"messages": [first]}))
    assert one[1].message.text() == "fix 1"
    other = await collect(provider, ask("another chat #bugfix"))
    assert other[1].message.text() == "fix 1"  # its own cursor
    summary_ask = user(f"{SUMMARY_REQUEST_MARKER}\nSummarize.")
    summary = await collect(
        provider, ask().model_copy(update={"messages": [first, one[1].message, summary_ask]})
    )
    assert summary[1].message.text().startswith("SUMMARY: one fix.")
    compacted = [user(summary[1].message.text()), user("go on")]
    two = await collect(provider, ask().model_copy(update={"messages": compacted}))
    assert two[1].message.text() == "fix 2"
    three = await collect(provider, ask().model_copy(update={"messages": compacted}))
    assert three[1].message.text() == EXHAUSTED_TEXT
    assert [r.index for r in fake_llm.requests_for("bugfix")] == [0, 0, None, 1, 2]


@pytest.mark.asyncio
async def test_demo_script_over_the_responses_api(
    fake_llm: FakeLLM,
    provider: OpenAIResponsesProvider,
) -> None:
    fake_llm.script("default", DEMO_SCRIPT)
    history = [user("What is in this folder?")]
    for _ in range(2):
        _, done = await collect(provider, ask().model_copy(update={"messages": history}))
        (call,) = done.message.tool_calls()
        result = ToolResultBlock(tool_call_id=call.id, content="total 0\nnotes.txt")
        history += [done.message, Message(role="tool", content=[result])]
    _, last = await collect(provider, ask().model_copy(update={"messages": history}))
    assert last.stop_reason == "end_turn" and "DEMO.md" in last.message.text()


# ----- Azure OpenAI: both URL forms, both OpenAI adapters -----

Adapter = type[OpenAIResponsesProvider] | type[OpenAIChatProvider]


@pytest.mark.asyncio
@pytest.mark.parametrize("adapter", [OpenAIResponsesProvider, OpenAIChatProvider])
@pytest.mark.parametrize(
    ("form", "paths"),
    [
        ("v1", ("/openai/v1/responses", "/openai/v1/chat/completions")),
        ("v1-url", ("/openai/v1/responses", "/openai/v1/chat/completions")),
        ("classic", ("/openai/responses", "/openai/deployments/gpt-4o/chat/completions")),
        ("deployment", ("/openai/responses", "/openai/deployments/pinned/chat/completions")),
    ],
)
async def test_azure_url_forms(
    fake_llm: FakeLLM,
    adapter: Adapter,
    form: str,
    paths: tuple[str, str],
) -> None:
    azure = {
        "v1": AzureConfig(fake_llm.base_url),
        "v1-url": AzureConfig(f"{fake_llm.base_url}/openai/v1/", api_version="v1"),
        "classic": AzureConfig(fake_llm.base_url, api_version=API_VERSION),
        "deployment": AzureConfig(f"{fake_llm.base_url}/openai", API_VERSION, "pinned"),
    }[form]
    fake_llm.api_key = AZURE_KEY
    fake_llm.script("default", [reply(text("Hello from Azure."))])
    provider = adapter("azure", AZURE_KEY, azure=azure, max_retries=0)
    try:
        _, done = await collect(provider, ask().model_copy(update={"model": "gpt-4o"}))
    finally:
        fake_llm.api_key = None
        await provider.aclose()
    assert done.message.text() == "Hello from Azure."
    recorded = fake_llm.requests[-1]
    is_responses = adapter is OpenAIResponsesProvider
    assert recorded.path == paths[0 if is_responses else 1]
    assert recorded.protocol == ("responses" if is_responses else "chat")
    assert recorded.body["model"] == "gpt-4o"
    if form.startswith("v1"):
        assert recorded.query == {}
        assert recorded.headers["authorization"] == f"Bearer {AZURE_KEY}"
    else:
        assert recorded.query == {"api-version": API_VERSION}
        assert recorded.headers["api-key"] == AZURE_KEY
        assert "authorization" not in recorded.headers


@pytest.mark.asyncio
async def test_azure_wrong_key_is_an_auth_error(fake_llm: FakeLLM) -> None:
    fake_llm.api_key = AZURE_KEY
    azure = AzureConfig(fake_llm.base_url, api_version=API_VERSION)
    provider = OpenAIResponsesProvider("azure", "wrong-key-0123456789", azure=azure, max_retries=0)
    try:
        with pytest.raises(ProviderError) as info:
            await collect(provider, ask())
    finally:
        fake_llm.api_key = None
        await provider.aclose()
    assert (info.value.kind, info.value.status_code) == ("auth", 401)
    assert fake_llm.requests[-1].headers["api-key"] == "wrong-key-0123456789"


@pytest.mark.parametrize(
    "path",
    [
        "/openai/deployments/dep/responses",
        "/openai/deployments/dep/chat/completions",
        "/openai/v1/responses",
        "/openai/v1/chat/completions",
    ],
)
def test_fake_routes_every_azure_path(fake_llm: FakeLLM, path: str) -> None:
    fake_llm.script("default", [reply(text("routed"))])
    body = (
        {"model": "dep", "input": "hi"}
        if path.endswith("responses")
        else {
            "model": "dep",
            "messages": [{"role": "user", "content": "hi"}],
        }
    )
    with httpx2.Client() as client:
        response = client.post(
            f"{fake_llm.base_url}{path}?api-version={API_VERSION}",
            json=body,
            headers={"api-key": AZURE_KEY},
        )
    assert response.status_code == 200
    assert "routed" in response.text
    recorded = fake_llm.requests[-1]
    assert (recorded.path, recorded.query) == (path, {"api-version": API_VERSION})
    assert recorded.protocol == ("responses" if path.endswith("responses") else "chat")


@pytest.mark.asyncio
async def test_summary_parts_and_raw_reasoning_text(
    fake_llm: FakeLLM,
    provider: OpenAIResponsesProvider,
) -> None:
    summary = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "enc"}
    raw_cot = {"type": "reasoning", "id": "rs_2", "summary": []}
    delta = "response.reasoning_summary_text.delta"
    fake_llm.replay(
        _stream(
            CREATED,
            {"type": "response.output_item.added", "output_index": 0, "item": summary},
            {"type": delta, "item_id": "rs_1", "output_index": 0, "summary_index": 0, "delta": "A"},
            {"type": delta, "item_id": "rs_1", "output_index": 0, "summary_index": 1, "delta": "B"},
            {
                "type": "response.output_item.done",
                "output_index": 0,
                "item": {
                    **summary,
                    "summary": [
                        {"type": "summary_text", "text": "A"},
                        {"type": "summary_text", "text": "B"},
                    ],
                },
            },
            {"type": "response.output_item.added", "output_index": 1, "item": raw_cot},
            {
                "type": "response.reasoning_text.delta",
                "item_id": "rs_2",
                "output_index": 1,
                "content_index": 0,
                "delta": "thinking aloud",
            },
            {
                "type": "response.output_item.done",
                "output_index": 1,
                "item": {
                    **raw_cot,
                    "content": [{"type": "reasoning_text", "text": "thinking aloud"}],
                },
            },
            {"type": "response.completed", "response": {"id": "resp_1", "status": "completed"}},
        )
    )
    events, done = await collect(provider, ask())
    streamed = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    assert streamed == "A\n\nBthinking aloud"
    first, second = done.message.content
    assert isinstance(first, ReasoningBlock) and isinstance(second, ReasoningBlock)
    assert (first.text, second.text) == ("A\n\nB", "thinking aloud")
    assert done.usage == Usage()  # a compatible server that reports none
    # Raw reasoning without encrypted content cannot go back unstored; the summary item can,
    # but only with the item it led to: a turn of bare reasoning is left out.
    answered = done.message.model_copy(
        update={"content": [*done.message.content, TextBlock(text="ok")]}
    )
    sent = build_params(ask().model_copy(update={"messages": [user("x"), answered]}))
    assert [i.get("type", i.get("role")) for i in sent["input"][1:]] == ["reasoning", "assistant"]
    bare = build_params(ask().model_copy(update={"messages": [user("x"), done.message]}))
    assert bare["input"] == [{"role": "user", "content": "x"}]


# ----- provider-native web search (the built-in web_search tool) -----

PY = "https://www.python.org/downloads/release/python-3130/"
NEWS = "https://docs.python.org/3.13/whatsnew/3.13.html"
SEARCH = web_search("python 3.13 release date", [(PY, "Python 3.13.0"), (NEWS, "What's New")])
ANSWER = "Python 3.13 was released on 7 October 2024."


def test_web_search_tool_and_include_only_when_asked() -> None:
    plain = build_params(ask())
    assert "tools" not in plain and "include" not in plain
    params = build_params(ask(web_search=True, reasoning_effort="low"))
    assert params["tools"] == [{"type": "web_search"}]
    assert params["include"] == ["reasoning.encrypted_content", "web_search_call.action.sources"]


@pytest.mark.asyncio
async def test_web_search_call_becomes_sources_and_goes_back(
    fake_llm: FakeLLM, provider: OpenAIResponsesProvider
) -> None:
    fake_llm.script(
        "search",
        [
            reply(SEARCH, text(ANSWER, cite=[NEWS])),
            reply(text("You're welcome.")),
        ],
    )
    first = ask("#search when was python 3.13 released?", web_search=True)
    events, done = await collect(provider, first)
    sources, answer = done.message.content
    assert answer == TextBlock(text=ANSWER)
    assert isinstance(sources, SourcesBlock)
    assert sources.query == "python 3.13 release date"
    # Pages come from the item's sources; the citation adds its title and the cited text.
    assert sources.sources == [
        Source(url=PY),
        Source(url=NEWS, title="What's New", snippet=ANSWER),
    ]
    item = (sources.provider_data or {})[SEARCH_ITEM]
    assert item["type"] == "web_search_call" and item["id"].startswith("ws_")
    assert item["action"]["query"] == "python 3.13 release date"
    assert done.stop_reason == "end_turn"
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == ANSWER

    stored = Message.model_validate_json(done.message.model_dump_json())
    second = first.model_copy(update={"messages": [*first.messages, stored, user("thanks")]})
    _, final = await collect(provider, second)
    assert final.message.text() == "You're welcome."
    sent = fake_llm.requests_for("search")[1].body["input"]
    assert sent[1] == {k: v for k, v in item.items() if k != "id"}  # unstored: no id
    assert sent[2] == {"role": "assistant", "content": ANSWER}

    # Web search switched off for the model: the call item stays out, the answer stays.
    unsearched = build_params(second.model_copy(update={"web_search": False}))["input"]
    assert [i.get("type", i.get("role")) for i in unsearched] == ["user", "assistant", "user"]
    # A stored conversation sends the item with its id.
    stored_input = build_params(second, store=True)["input"]
    assert stored_input[1]["id"] == item["id"]


@pytest.mark.asyncio
async def test_citations_without_listed_sources(
    fake_llm: FakeLLM, provider: OpenAIResponsesProvider
) -> None:
    """Without the ``include`` the item lists no page: the cited ones are still kept."""
    fake_llm.script(
        "default", [reply(thinking("Need fresh facts."), SEARCH, text(ANSWER, cite=[PY]))]
    )
    _, done = await collect(provider, ask(reasoning_effort="low"))  # web_search not asked
    assert [b.type for b in done.message.content] == ["reasoning", "sources", "text"]
    sources = done.message.content[1]
    assert isinstance(sources, SourcesBlock)
    assert sources.sources == [Source(url=PY, title="Python 3.13.0", snippet=ANSWER)]


def test_other_providers_sources_are_not_sent() -> None:
    anthropic_search = SourcesBlock(
        query="q", sources=[Source(url=PY)], provider_data={"anthropic_blocks": []}
    )
    history = [
        user("q"),
        Message(role="assistant", content=[anthropic_search, TextBlock(text="answer")]),
    ]
    params = build_params(ModelRequest(model="gpt-test", messages=history, web_search=True))
    assert params["input"][1] == {"role": "assistant", "content": "answer"}
