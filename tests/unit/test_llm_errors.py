"""SDK exceptions -> ProviderError: every exported class classified; statuses, bodies, secrets."""

from __future__ import annotations

import email.utils
import inspect
import socket
import time
from types import ModuleType
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from coder_agents_jupyter.errors import ProviderError
from coder_agents_jupyter.llm.anthropic import AnthropicProvider
from coder_agents_jupyter.llm.errors import (
    ANTHROPIC_KINDS,
    BY_STATUS,
    OPENAI_KINDS,
    map_provider_errors,
    table_entry,
    to_provider_error,
)
from coder_agents_jupyter.llm.openai_chat import OpenAIChatProvider
from coder_agents_jupyter.llm.types import Message, ModelRequest, TextBlock
from coder_agents_jupyter.testing import FakeLLM, reply, text

KINDS = {
    "auth",
    "bad_request",
    "rate_limit",
    "overloaded",
    "server",
    "timeout",
    "connection",
    "content_filter",
    "context_overflow",
    "generic",
}
KEY = "sk-secret-key-that-must-never-leak-123456"
ANTHROPIC_URL = "https://api.anthropic.com/v1/messages"
OPENAI_URL = "https://api.openai.com/v1/chat/completions"


def exported_api_errors(module: ModuleType) -> list[type[BaseException]]:
    base = module.APIError
    names = sorted(set(getattr(module, "__all__", [])) | set(dir(module)))
    found = []
    for name in names:
        obj = getattr(module, name, None)
        if not name.startswith("_") and inspect.isclass(obj) and issubclass(obj, base):
            found.append(obj)
    return found


@pytest.mark.parametrize(
    ("module", "table"),
    [(anthropic, ANTHROPIC_KINDS), (openai, OPENAI_KINDS)],
    ids=["anthropic", "openai"],
)
def test_every_exported_api_error_class_is_classified(
    module: ModuleType, table: dict[str, tuple[str, bool | None]]
) -> None:
    classes = exported_api_errors(module)
    assert len(classes) >= 8  # the scan itself works
    missing = sorted(c.__name__ for c in classes if c.__name__ not in table)
    assert missing == [], (
        f"{module.__name__} exports APIError subclasses with no decided kind: {missing}. "
        "Add them to the table in coder_agents_jupyter/llm/errors.py."
    )
    for kind, _retryable in table.values():
        assert kind in KINDS | {BY_STATUS}


def test_unlisted_subclasses_inherit_their_parents_kind() -> None:
    class FutureOverloaded(anthropic.OverloadedError):
        pass

    assert table_entry(FutureOverloaded, ANTHROPIC_KINDS) == ("overloaded", True)


# ----- HTTP status errors built by the SDKs' own factories -----


def anthropic_status_error(
    status: int, body: Any, headers: dict[str, str] | None = None
) -> anthropic.APIStatusError:
    client = anthropic.Anthropic(api_key=KEY)
    response = httpx2.Response(
        status, headers=headers or {}, json=body, request=httpx2.Request("POST", ANTHROPIC_URL)
    )
    return client._make_status_error(f"Error code: {status} - {body}", body=body, response=response)


def openai_status_error(
    status: int, body: Any, headers: dict[str, str] | None = None
) -> openai.APIStatusError:
    client = openai.OpenAI(api_key=KEY)
    response = httpx2.Response(
        status, headers=headers or {}, json=body, request=httpx2.Request("POST", OPENAI_URL)
    )
    return client._make_status_error(f"Error code: {status} - {body}", body=body, response=response)


def anthropic_body(kind: str, message: str, code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": kind, "message": message}
    if code:
        error["details"] = {"error_code": code}
    return {"type": "error", "error": error, "request_id": "req_1"}


@pytest.mark.parametrize(
    ("status", "body", "kind", "retryable"),
    [
        (400, anthropic_body("invalid_request_error", "bad field"), "bad_request", False),
        (
            400,
            anthropic_body("invalid_request_error", "prompt is too long: 210000 tokens > 200000"),
            "context_overflow",
            False,
        ),
        (401, anthropic_body("authentication_error", "invalid x-api-key"), "auth", False),
        (402, anthropic_body("billing_error", "credit balance too low"), "auth", False),
        (403, anthropic_body("permission_error", "no access"), "auth", False),
        (404, anthropic_body("not_found_error", "model: nope"), "bad_request", False),
        (408, anthropic_body("timeout_error", "slow"), "timeout", True),
        (409, anthropic_body("api_error", "conflict"), "generic", True),
        (413, anthropic_body("request_too_large", "too big"), "context_overflow", False),
        (429, anthropic_body("rate_limit_error", "slow down"), "rate_limit", True),
        (
            429,
            anthropic_body("rate_limit_error", "spend limit", "enforced_spend_limit_reached"),
            "rate_limit",
            False,
        ),
        (500, anthropic_body("api_error", "Internal server error"), "server", True),
        (502, anthropic_body("api_error", "bad gateway"), "server", True),
        (503, anthropic_body("api_error", "unavailable"), "overloaded", True),
        (504, anthropic_body("timeout_error", "gateway timeout"), "timeout", True),
        (529, anthropic_body("overloaded_error", "Overloaded"), "overloaded", True),
    ],
)
def test_anthropic_statuses(status: int, body: Any, kind: str, retryable: bool) -> None:
    err = to_provider_error(anthropic_status_error(status, body), "claude")
    assert err is not None
    assert (err.kind, err.status_code, err.retryable) == (kind, status, retryable)
    assert err.message == body["error"]["message"] and err.provider == "claude"


def openai_body(message: str, code: str | None = None, kind: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


@pytest.mark.parametrize(
    ("status", "body", "kind", "retryable"),
    [
        (400, openai_body("Invalid value for 'model'"), "bad_request", False),
        (400, openai_body("too long", "context_length_exceeded"), "context_overflow", False),
        (400, openai_body("blocked", "content_policy_violation"), "content_filter", False),
        (401, openai_body("Incorrect API key provided", "invalid_api_key"), "auth", False),
        (403, openai_body("Your input was flagged by moderation"), "content_filter", False),
        (403, openai_body("Project does not have access"), "auth", False),
        (404, openai_body("model not found"), "bad_request", False),
        (409, openai_body("conflict"), "generic", True),
        (422, openai_body("unprocessable"), "bad_request", False),
        (429, openai_body("Rate limit reached", "rate_limit_exceeded"), "rate_limit", True),
        (429, openai_body("quota", "insufficient_quota"), "rate_limit", False),
        (500, openai_body("The server had an error"), "server", True),
        (502, openai_body("Bad gateway"), "server", True),
        (503, openai_body("Slow down"), "overloaded", True),
        (504, openai_body("Gateway timeout"), "timeout", True),
    ],
)
def test_openai_statuses(status: int, body: Any, kind: str, retryable: bool) -> None:
    err = to_provider_error(openai_status_error(status, body), "openai")
    assert err is not None
    assert (err.kind, err.status_code, err.retryable) == (kind, status, retryable)
    assert err.message == body["error"]["message"]


def test_gemini_array_error_body() -> None:
    body = [
        {"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}}
    ]
    err = to_provider_error(openai_status_error(429, body), "gemini")
    assert err is not None
    assert (err.kind, err.message) == ("rate_limit", "Resource exhausted")


def test_html_error_pages_get_a_plain_message() -> None:
    page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    client = openai.OpenAI(api_key=KEY)
    response = httpx2.Response(502, text=page, request=httpx2.Request("POST", OPENAI_URL))
    err = to_provider_error(client._make_status_error(page, body=page, response=response), "o")
    assert err is not None
    assert (err.kind, err.message) == ("server", "the provider had an internal error")


def test_x_should_retry_header_wins() -> None:
    body = anthropic_body("invalid_request_error", "weird")
    err = to_provider_error(anthropic_status_error(400, body, {"x-should-retry": "true"}), "c")
    assert err is not None and err.retryable is True
    body = anthropic_body("api_error", "do not retry")
    err = to_provider_error(anthropic_status_error(500, body, {"x-should-retry": "false"}), "c")
    assert err is not None and err.retryable is False


# ----- errors inside a 200 stream -----


@pytest.mark.parametrize(
    ("error_type", "kind", "retryable"),
    [
        ("overloaded_error", "overloaded", True),
        ("api_error", "server", True),
        ("rate_limit_error", "rate_limit", True),
        ("invalid_request_error", "bad_request", False),
        ("something_new", "generic", False),
    ],
)
def test_anthropic_in_stream_errors(error_type: str, kind: str, retryable: bool) -> None:
    # The SDK raises an ``event: error`` as APIStatusError carrying the 200 of the stream.
    exc = anthropic_status_error(200, anthropic_body(error_type, "Stream failed"))
    err = to_provider_error(exc, "claude")
    assert err is not None
    assert (err.kind, err.status_code, err.retryable, err.message) == (
        kind,
        None,
        retryable,
        "Stream failed",
    )


@pytest.mark.parametrize(
    ("body", "kind", "status", "retryable"),
    [
        ({"code": 400, "message": "Token limit reached"}, "bad_request", 400, False),
        ({"code": 502, "message": "Upstream error"}, "server", 502, True),
        ({"code": "server_error", "message": "boom"}, "server", None, True),
        ({"type": "insufficient_quota", "message": "quota"}, "rate_limit", None, False),
        (None, "generic", None, False),
    ],
)
def test_openai_in_stream_errors(body: Any, kind: str, status: int | None, retryable: bool) -> None:
    exc = openai.APIError(
        "An error occurred during streaming", httpx2.Request("POST", OPENAI_URL), body=body
    )
    err = to_provider_error(exc, "openrouter")
    assert err is not None
    assert (err.kind, err.status_code, err.retryable) == (kind, status, retryable)


# ----- retry-after -----


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "1.5", "retry-after-ms": "100"}, 0.1),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    body = anthropic_body("rate_limit_error", "slow down")
    err = to_provider_error(anthropic_status_error(429, body, headers), "c")
    assert err is not None and err.retry_after == expected


def test_retry_after_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    err = to_provider_error(openai_status_error(429, openai_body("x"), {"retry-after": when}), "o")
    assert err is not None and err.retry_after is not None
    assert 25 <= err.retry_after <= 31


# ----- secrets -----


def test_messages_never_carry_keys() -> None:
    body = openai_body(f"Incorrect API key provided: {KEY}. Also Bearer abcdefghijklmnop.")
    exc = openai_status_error(401, body)
    err = to_provider_error(exc, "openai", secrets=[KEY])
    assert err is not None
    assert KEY not in err.message and "abcdefghijklmnop" not in err.message
    assert "***" in err.message
    # Even without being told the key, anything shaped like one is masked.
    err = to_provider_error(openai_status_error(401, openai_body(f"bad key {KEY}")), "openai")
    assert err is not None and KEY not in err.describe()


def test_long_messages_are_cut() -> None:
    err = to_provider_error(openai_status_error(400, openai_body("x" * 5000)), "openai")
    assert err is not None and len(err.message) <= 500


def test_context_manager_translates_and_hides_the_sdk_exception() -> None:
    exc = anthropic_status_error(529, anthropic_body("overloaded_error", "Overloaded"))
    with pytest.raises(ProviderError) as info, map_provider_errors("claude", secrets=[KEY]):
        raise exc
    # Not chained: the SDK exception holds the request, whose headers hold the key.
    assert info.value.__cause__ is None and info.value.__suppress_context__
    with pytest.raises(ValueError), map_provider_errors("claude"):
        raise ValueError("not ours")
    original = ProviderError("already translated", provider="x", kind="config")
    with pytest.raises(ProviderError) as info, map_provider_errors("claude"):
        raise original
    assert info.value is original


# ----- transport failures through the real providers -----


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ask() -> ModelRequest:
    return ModelRequest(model="m", messages=[Message(role="user", content=[TextBlock(text="hi")])])


@pytest.mark.asyncio
@pytest.mark.parametrize("family", ["anthropic", "openai"])
async def test_connection_refused(family: str) -> None:
    base = f"http://127.0.0.1:{closed_port()}"
    provider: AnthropicProvider | OpenAIChatProvider
    if family == "anthropic":
        provider = AnthropicProvider("p", KEY, base_url=base, max_retries=0)
    else:
        provider = OpenAIChatProvider("p", KEY, base_url=f"{base}/v1", max_retries=0)
    try:
        with pytest.raises(ProviderError) as info:
            async for _ in provider.stream(ask()):
                pass
    finally:
        await provider.aclose()
    err = info.value
    assert (err.kind, err.retryable, err.status_code) == ("connection", True, None)
    assert err.message.startswith("could not reach the provider")


@pytest.mark.asyncio
@pytest.mark.parametrize("family", ["anthropic", "openai"])
async def test_stalled_stream_times_out(fake_llm: FakeLLM, family: str) -> None:
    fake_llm.script("default", [reply(text("a b c d e f g h i j k l m n o p"), delay=1.0)])
    provider: AnthropicProvider | OpenAIChatProvider
    if family == "anthropic":
        provider = AnthropicProvider(
            "p", KEY, base_url=fake_llm.base_url, max_retries=0, timeout=0.3
        )
    else:
        provider = OpenAIChatProvider(
            "p", KEY, base_url=fake_llm.openai_base_url, max_retries=0, timeout=0.3
        )
    try:
        with pytest.raises(ProviderError) as info:
            async for _ in provider.stream(ask()):
                pass
    finally:
        await provider.aclose()
    assert (info.value.kind, info.value.retryable) == ("timeout", True)
