"""BedrockProvider through the real ``AsyncAnthropicBedrock`` against the fake vendor's Bedrock
routes: AWS event-stream frames, Bedrock error shapes, bearer and SigV4 auth, the missing extra."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
import pytest_asyncio
from anthropic.lib.aws import _auth as aws_auth
from botocore.eventstream import EventStreamBuffer

from coder_agents_jupyter.errors import ProviderError
from coder_agents_jupyter.llm.anthropic import AnthropicProvider
from coder_agents_jupyter.llm.bedrock import BEDROCK_ANTHROPIC_VERSION, BedrockProvider
from coder_agents_jupyter.llm.registry import make_provider
from coder_agents_jupyter.llm.types import (
    Message,
    ModelRequest,
    ReasoningBlock,
    ReasoningDelta,
    StreamDone,
    StreamEvent,
    TextBlock,
    TextDelta,
    ToolCallStarted,
    ToolResultBlock,
    ToolSpec,
    Usage,
)
from coder_agents_jupyter.settings import build_settings
from coder_agents_jupyter.testing import (
    FakeLLM,
    disconnect_after,
    http_error,
    malformed_event,
    reply,
    text,
    thinking,
    tool_call,
    web_search,
)
from coder_agents_jupyter.testing.fake_wire import EVENTSTREAM_CONTENT_TYPE

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "llm"
ANTHROPIC = FIXTURES / "anthropic"
KEY = "bedrock-api-key-0123456789abcdef"
MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
INSTALL = 'pip install "coder_agents_jupyter[bedrock]"'


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No AWS configuration from this machine: no files, no instance metadata, no env keys."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_BEARER_TOKEN_BEDROCK",
        "ANTHROPIC_BEDROCK_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # The SDK caches one boto3 session per argument set: credentials must not leak across tests.
    aws_auth._get_session.cache_clear()
    yield
    aws_auth._get_session.cache_clear()


@pytest_asyncio.fixture
async def provider(fake_llm: FakeLLM, aws_env: None) -> AsyncIterator[BedrockProvider]:
    p = BedrockProvider("bedrock", KEY, "us-east-1", base_url=fake_llm.base_url, max_retries=0)
    try:
        yield p
    finally:
        await p.aclose()


def ask(prompt: str = "hello", **kwargs: Any) -> ModelRequest:
    return ModelRequest(
        model=MODEL, messages=[Message(role="user", content=[TextBlock(text=prompt)])], **kwargs
    )


async def collect(
    provider: AnthropicProvider | BedrockProvider, request: ModelRequest
) -> tuple[list[StreamEvent], StreamDone]:
    events = [e async for e in provider.stream(request)]
    assert sum(isinstance(e, StreamDone) for e in events) == 1
    assert isinstance(events[-1], StreamDone)
    return events[:-1], events[-1]


# ----- scripted answers -----


@pytest.mark.asyncio
async def test_text_thinking_and_tool_call_with_usage(
    fake_llm: FakeLLM, provider: BedrockProvider
) -> None:
    fake_llm.script(
        "default",
        [
            reply(
                thinking("The user wants a listing."),
                text("Listing the files now."),
                tool_call("execute", {"command": "ls -la"}),
                usage=Usage(input_tokens=120, output_tokens=33, cache_read_tokens=50),
            )
        ],
    )
    events, done = await collect(provider, ask(reasoning_effort="low", system="Be terse."))

    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == (
        "The user wants a listing."
    )
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Listing the files now."
    started = [e for e in events if isinstance(e, ToolCallStarted)]
    assert [e.name for e in started] == ["execute"]
    content = done.message.content
    assert isinstance(content[0], ReasoningBlock) and content[0].signature
    assert done.message.text() == "Listing the files now."
    [call] = done.message.tool_calls()
    assert (call.id, call.input) == (started[0].id, {"command": "ls -la"})
    assert done.stop_reason == "tool_use"
    assert (done.usage.input_tokens, done.usage.output_tokens, done.usage.cache_read_tokens) == (
        120,
        33,
        50,
    )

    seen = fake_llm.requests[-1]
    assert seen.protocol == "bedrock"
    assert seen.path == f"/model/{MODEL}/invoke-with-response-stream"
    assert seen.headers["authorization"] == f"Bearer {KEY}"
    # The Bedrock client moves model and stream out of the body and adds anthropic_version.
    assert "model" not in seen.body and "stream" not in seen.body
    assert seen.body["anthropic_version"] == BEDROCK_ANTHROPIC_VERSION
    assert seen.body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert seen.body["system"][0]["text"] == "Be terse."


@pytest.mark.asyncio
async def test_tool_loop_echoes_thinking_and_tool_use(
    fake_llm: FakeLLM, provider: BedrockProvider
) -> None:
    fake_llm.script(
        "loop",
        [
            reply(thinking("Read it first."), tool_call("read_file", {"path": "a.py"})),
            reply(text("It prints hello.")),
        ],
    )
    spec = ToolSpec(
        name="read_file",
        description="Read a file.",
        parameters={"type": "object", "properties": {"path": {"type": "string"}}},
    )
    first = ask("#loop what does a.py do?", tools=[spec], reasoning_effort="low")
    _, done = await collect(provider, first)
    call = done.message.tool_calls()[0]
    result = Message(
        role="tool", content=[ToolResultBlock(tool_call_id=call.id, content="print('hello')")]
    )
    second = first.model_copy(update={"messages": [*first.messages, done.message, result]})
    _, final = await collect(provider, second)
    assert final.message.text() == "It prints hello."
    sent = fake_llm.requests_for("loop")[1].body
    assistant = sent["messages"][1]["content"]
    assert [b["type"] for b in assistant] == ["thinking", "tool_use"]
    assert assistant[1] == {
        "type": "tool_use",
        "id": call.id,
        "name": "read_file",
        "input": {"path": "a.py"},
    }
    assert sent["messages"][2]["content"][0]["tool_use_id"] == call.id
    assert sent["tools"][0]["name"] == "read_file"


RECORDED = [
    "messages-stream-text.txt",
    "messages-stream-tool-use.txt",
    "messages-stream-thinking.txt",
    "messages-stream-redacted-thinking.txt",
    "messages-stream-tool-use-max-tokens.txt",
    "messages-stream-tool-no-args.datalines.txt",
]


@pytest.mark.asyncio
@pytest.mark.parametrize("name", RECORDED)
async def test_recorded_streams_parse_the_same_as_over_the_direct_api(
    fake_llm: FakeLLM, provider: BedrockProvider, name: str
) -> None:
    """Each recorded Anthropic stream, re-framed as Bedrock event-stream messages, gives exactly
    the events and message it gives over SSE from the Anthropic API."""
    direct = AnthropicProvider("anthropic", "sk-ant-x", base_url=fake_llm.base_url, max_retries=0)
    try:
        fake_llm.replay(ANTHROPIC / name)
        over_sse = await collect(direct, ask())
    finally:
        await direct.aclose()
    fake_llm.replay(ANTHROPIC / name, chunk_size=11)  # frames split across reads
    over_bedrock = await collect(provider, ask())
    assert over_bedrock == over_sse
    assert fake_llm.requests[-1].protocol == "bedrock"


@pytest.mark.asyncio
async def test_non_streaming_invoke(fake_llm: FakeLLM, aws_env: None) -> None:
    fake_llm.script("default", [reply(text("Whole answer."))])
    client = anthropic.AsyncAnthropicBedrock(
        api_key=KEY, aws_region="eu-west-1", base_url=fake_llm.base_url, max_retries=0
    )
    try:
        message = await client.messages.create(
            model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "hi"}]
        )
    finally:
        await client.close()
    assert message.content[0].type == "text" and message.content[0].text == "Whole answer."
    assert fake_llm.requests[-1].path == f"/model/{MODEL}/invoke"


@pytest.mark.asyncio
async def test_web_search_is_not_offered_on_bedrock(
    fake_llm: FakeLLM, provider: BedrockProvider, caplog: pytest.LogCaptureFixture
) -> None:
    fake_llm.script("default", [reply(text("From what I know."))])
    with caplog.at_level("INFO"):
        _, done = await collect(provider, ask(web_search=True))
    assert done.message.text() == "From what I know."
    assert "tools" not in fake_llm.requests[-1].body
    assert "no provider-native web search" in caplog.text


# ----- the wire itself -----


def test_stream_is_real_aws_event_stream(fake_llm: FakeLLM) -> None:
    """botocore's own decoder (CRC-checked) reads the fake's frames and exception frames."""
    fake_llm.script(
        "default",
        [
            reply(
                web_search("ignored", [("https://a.example", "A")]),
                text("hi"),
                stream_error={"type": "throttlingException", "message": "Too many requests"},
            )
        ],
    )
    response = httpx2.post(
        f"{fake_llm.base_url}/model/{MODEL}/invoke-with-response-stream",
        json={"messages": [{"role": "user", "content": "x"}], "max_tokens": 5},
        headers={"authorization": "Bearer k"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == EVENTSTREAM_CONTENT_TYPE
    buffer = EventStreamBuffer()
    buffer.add_data(response.content)
    messages = list(buffer)
    chunks = [m for m in messages if m.headers[":message-type"] == "event"]
    assert all(m.headers[":event-type"] == "chunk" for m in chunks)
    events = [json.loads(base64.b64decode(json.loads(m.payload)["bytes"])) for m in chunks]
    assert events[0]["type"] == "message_start"
    assert "ping" not in [e["type"] for e in events]
    last = messages[-1]
    assert last.headers[":message-type"] == "exception"
    assert last.headers[":exception-type"] == "throttlingException"
    assert json.loads(last.payload) == {"message": "Too many requests"}


# ----- failures -----


@pytest.mark.asyncio
async def test_throttling_exception_mid_stream_is_a_retryable_rate_limit(
    fake_llm: FakeLLM, provider: BedrockProvider
) -> None:
    message = "Too many requests, please wait before trying again."
    fake_llm.script(
        "default",
        [
            reply(
                text("partial answer"),
                stream_error={"type": "throttlingException", "message": message},
            )
        ],
    )
    seen: list[StreamEvent] = []
    with pytest.raises(ProviderError) as info:
        async for event in provider.stream(ask()):
            seen.append(event)
    assert "".join(e.text for e in seen if isinstance(e, TextDelta)) == "partial answer"
    err = info.value
    assert (err.kind, err.retryable, err.provider, err.message) == (
        "rate_limit",
        True,
        "bedrock",
        message,
    )


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("stream_error", "kind", "retryable"),
    [
        ({"type": "overloaded_error", "message": "Overloaded"}, "overloaded", True),
        ({"type": "modelStreamErrorException", "message": "boom"}, "server", True),
        ({"type": "modelTimeoutException", "message": "slow"}, "timeout", True),
        (
            {"type": "validationException", "message": "Input is too long for requested model."},
            "context_overflow",
            False,
        ),
    ],
)
async def test_other_stream_exceptions(
    fake_llm: FakeLLM,
    provider: BedrockProvider,
    stream_error: dict[str, str],
    kind: str,
    retryable: bool,
) -> None:
    fake_llm.script("default", [reply(text("x"), stream_error=stream_error)])
    with pytest.raises(ProviderError) as info:
        await collect(provider, ask())
    assert (info.value.kind, info.value.retryable) == (kind, retryable)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("status", "message", "kind", "retryable"),
    [
        (429, "Too many requests, please wait before trying again.", "rate_limit", True),
        (400, "Input is too long for requested model.", "context_overflow", False),
        (400, "messages: field required", "bad_request", False),
        (403, "You don't have access to the model with the specified model ID.", "auth", False),
        (503, "Bedrock is unable to process your request.", "overloaded", True),
    ],
)
async def test_http_errors_in_bedrock_shape(
    fake_llm: FakeLLM,
    provider: BedrockProvider,
    status: int,
    message: str,
    kind: str,
    retryable: bool,
) -> None:
    fake_llm.script("default", [reply(fault=http_error(status, message))])
    with pytest.raises(ProviderError) as info:
        await collect(provider, ask())
    err = info.value
    assert (err.kind, err.status_code, err.retryable, err.message) == (
        kind,
        status,
        retryable,
        message,
    )


@pytest.mark.asyncio
async def test_service_quota_is_not_retried(fake_llm: FakeLLM, provider: BedrockProvider) -> None:
    headers = {"x-amzn-errortype": "ServiceQuotaExceededException:http://internal.amazon.com/"}
    body = {"message": "Your request exceeds the service quota for your account."}
    fake_llm.script("default", [reply(error=(400, body, headers))])
    with pytest.raises(ProviderError) as info:
        await collect(provider, ask())
    assert (info.value.kind, info.value.retryable) == ("rate_limit", False)


@pytest.mark.asyncio
async def test_wrong_key_is_an_auth_error_without_the_key(
    fake_llm: FakeLLM, provider: BedrockProvider
) -> None:
    fake_llm.api_key = "the-right-key"
    try:
        with pytest.raises(ProviderError) as info:
            await collect(provider, ask())
    finally:
        fake_llm.api_key = None
    err = info.value
    assert (err.kind, err.status_code, err.retryable) == ("auth", 403, False)
    assert KEY not in err.describe()


@pytest.mark.asyncio
async def test_broken_streams_are_retryable(fake_llm: FakeLLM, provider: BedrockProvider) -> None:
    fake_llm.script(
        "default",
        [
            reply(text("one two three four"), fault=malformed_event(2)),
            reply(text("one two three four"), fault=disconnect_after(3)),
        ],
    )
    with pytest.raises(ProviderError) as malformed:
        await collect(provider, ask())
    assert malformed.value.retryable
    with pytest.raises(ProviderError) as cut:
        await collect(provider, ask())
    assert (cut.value.kind, cut.value.retryable) == ("connection", True)


# ----- credentials, region, the optional extra -----


@pytest.mark.asyncio
async def test_sigv4_from_the_aws_credential_chain(
    fake_llm: FakeLLM, aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFAKEEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret-key-0123456789")
    fake_llm.api_key = "AKIAFAKEEXAMPLE"  # the fake checks the access key id, not the signature
    fake_llm.script("default", [reply(text("signed"))])
    p = BedrockProvider("bedrock", None, "us-west-2", base_url=fake_llm.base_url, max_retries=0)
    try:
        _, done = await collect(p, ask())
    finally:
        fake_llm.api_key = None
        await p.aclose()
    assert done.message.text() == "signed"
    headers = fake_llm.requests[-1].headers
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIAFAKEEXAMPLE/")
    assert "/us-west-2/bedrock/aws4_request" in headers["authorization"]
    assert "x-amz-date" in headers


@pytest.mark.asyncio
async def test_no_aws_credentials_is_an_auth_error(fake_llm: FakeLLM, aws_env: None) -> None:
    p = BedrockProvider("bedrock", None, "us-west-2", base_url=fake_llm.base_url, max_retries=0)
    try:
        with pytest.raises(ProviderError) as info:
            await collect(p, ask())
    finally:
        await p.aclose()
    assert (info.value.kind, info.value.retryable) == ("auth", False)
    assert "AWS credentials" in info.value.message
    assert fake_llm.requests == []


def test_no_region_is_a_config_error(aws_env: None) -> None:
    with pytest.raises(ProviderError) as info:
        BedrockProvider("bedrock", KEY, None)
    assert info.value.kind == "config" and "region" in info.value.message


@pytest.mark.parametrize("module", ["botocore", "boto3"])
def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    with pytest.raises(ProviderError) as info:
        BedrockProvider("aws", KEY, "us-east-1")
    err = info.value
    assert (err.kind, err.provider, err.retryable) == ("config", "aws", False)
    assert module in err.message
    assert INSTALL in err.message


@pytest.mark.asyncio
async def test_registry_builds_bedrock_without_a_key(
    fake_llm: FakeLLM, aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = build_settings(
        providers=[
            {"name": "aws", "type": "bedrock", "region": "eu-central-1", "base_url": "http://x"}
        ],
        models=[{"id": "claude", "provider": "aws", "model": MODEL}],
        system_prompt="",
        admin_users=[],
        environ={},
    )
    assert [s.available for s in settings.provider_status()] == [True]  # the AWS chain may sign
    provider = make_provider(settings, "aws")
    try:
        assert isinstance(provider, BedrockProvider)
    finally:
        await provider.aclose()
    monkeypatch.setitem(sys.modules, "botocore", None)
    with pytest.raises(ProviderError) as info:
        make_provider(settings, "aws")
    assert INSTALL in info.value.message
