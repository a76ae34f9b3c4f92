"""RetryingProvider through the real SDK providers against the fake vendor's scripted faults.

The SDK clients get ``max_retries=0`` so every retry seen here is the policy's own. Sleeps are
injected (recorded, never slept), so backoff up to 60 s costs nothing; only the silence tests wait
for real, for a silence limit of a fraction of a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from coder_agents_jupyter.errors import ProviderError
from coder_agents_jupyter.llm.anthropic import AnthropicProvider
from coder_agents_jupyter.llm.openai_chat import OpenAIChatProvider
from coder_agents_jupyter.llm.retry import (
    SILENCE_KIND,
    RetryingProvider,
    RetryNotice,
    RetryPolicy,
    StreamInterrupted,
    describe_retry,
)
from coder_agents_jupyter.llm.types import (
    Message,
    ModelRequest,
    StreamDone,
    StreamEvent,
    TextBlock,
    TextDelta,
)
from coder_agents_jupyter.testing import (
    FakeLLM,
    disconnect_after,
    http_error,
    malformed_event,
    repeat,
    reply,
    stall,
    text,
)

KEY = "sk-retry-test-key-that-must-never-show-0123456789"
FAMILIES = ["anthropic", "chat"]
NAMES = {"anthropic": "anthropic", "chat": "openai"}
# SSE frames each writer sends before its first text delta (Anthropic: message_start, ping,
# content_block_start; Chat Completions: the role-only chunk), and a count well inside the text.
QUIET_FRAMES = {"anthropic": 3, "chat": 1}
MID_TEXT_FRAMES = {"anthropic": 5, "chat": 3}
LONG_TEXT = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
NOW = 1_000.0


@dataclass
class Harness:
    provider: RetryingProvider
    notices: list[RetryNotice] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)


def make_inner(fake: FakeLLM, family: str) -> AnthropicProvider | OpenAIChatProvider:
    if family == "anthropic":
        return AnthropicProvider(NAMES[family], KEY, base_url=fake.base_url, max_retries=0)
    return OpenAIChatProvider(NAMES[family], KEY, base_url=fake.openai_base_url, max_retries=0)


@contextlib.asynccontextmanager
async def retrying(fake: FakeLLM, family: str, **policy: Any) -> AsyncIterator[Harness]:
    """A RetryingProvider whose sleeps and notices are recorded; jitter off unless asked."""
    policy.setdefault("jitter", 0.0)
    harness = Harness(provider=None)  # type: ignore[arg-type]

    async def record_sleep(seconds: float) -> None:
        harness.sleeps.append(seconds)

    harness.provider = RetryingProvider(
        make_inner(fake, family),
        RetryPolicy(**policy),
        harness.notices.append,
        sleep=record_sleep,
        clock=lambda: NOW,
    )
    try:
        yield harness
    finally:
        await harness.provider.aclose()
        assert_no_key(*harness.notices)


def ask() -> ModelRequest:
    return ModelRequest(model="m", messages=[Message(role="user", content=[TextBlock(text="hi")])])


async def collect(provider: RetryingProvider, **kwargs: Any) -> list[StreamEvent]:
    return [event async for event in provider.stream(ask(), **kwargs)]


def answer_text(events: list[StreamEvent]) -> str:
    done = events[-1]
    assert isinstance(done, StreamDone)
    return done.message.text()


def assert_no_key(*things: object) -> None:
    for thing in things:
        shown = [str(thing), repr(thing)]
        if isinstance(thing, ProviderError):
            shown.append(thing.describe())
        for value in shown:
            assert KEY not in value
            assert KEY[:12] not in value  # not even a recognisable prefix


# ----- the policy alone -----


def test_default_backoff_doubles_from_one_second_to_the_sixty_second_cap() -> None:
    policy = RetryPolicy()
    assert [policy.delay(n) for n in range(1, 10)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert policy.delay(5000) == 60  # no float overflow however long it goes on
    assert (policy.max_attempts, policy.silence_timeout) == (8, 600.0)


def test_jitter_only_shortens_the_delay() -> None:
    policy = RetryPolicy(jitter=0.2)
    assert policy.delay(3, rand=0.0) == 4.0
    assert policy.delay(3, rand=0.5) == pytest.approx(3.6)
    assert 3.2 <= policy.delay(3, rand=0.999) <= 4.0
    assert policy.delay(9, rand=0.999) <= 60.0


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [(2.5, 2.5), (0.0, 0.0), (120.0, 120.0), (3600.0, 4.0), (-1.0, 4.0), (math.nan, 4.0)],
)
def test_sane_retry_after_wins_and_absurd_values_fall_back(
    retry_after: float, expected: float
) -> None:
    assert RetryPolicy(jitter=0.5).delay(3, retry_after, rand=0.0) == expected


def test_policy_rejects_nonsense() -> None:
    for bad in ({"max_attempts": 0}, {"base_delay": -1}, {"jitter": 2}, {"silence_timeout": 0}):
        with pytest.raises(ValueError):
            RetryPolicy(**bad)
    assert RetryPolicy(silence_timeout=None).silence_timeout is None


def test_reasons_are_sentences_naming_the_provider() -> None:
    def err(kind: str, status: int | None = None) -> ProviderError:
        return ProviderError("Overloaded", provider="anthropic", kind=kind, status_code=status)

    assert describe_retry(err("rate_limit", 429)) == "rate limited by anthropic (HTTP 429)"
    assert describe_retry(err("overloaded", 529)) == "anthropic is overloaded (HTTP 529)"
    assert describe_retry(err("connection")) == "the connection to anthropic failed"
    assert describe_retry(err(SILENCE_KIND), 600) == "anthropic sent nothing for 600 s"
    assert describe_retry(err("generic")) == "anthropic failed: Overloaded"


# ----- HTTP errors before the stream -----


@pytest.mark.asyncio
@pytest.mark.parametrize("family", FAMILIES)
async def test_429_with_retry_after_recovers_and_the_notice_shows_that_delay(
    fake_llm: FakeLLM, family: str
) -> None:
    fake_llm.script(
        "default",
        [reply(fault=http_error(429, "slow down", retry_after=2)), reply(text("recovered"))],
    )
    async with retrying(fake_llm, family) as h:
        events = await collect(h.provider)
    assert answer_text(events) == "recovered"
    assert h.sleeps == [2.0]
    [notice] = h.notices
    name = NAMES[family]
    assert notice == RetryNotice(
        attempt=1,
        max_attempts=8,
        delay_seconds=2.0,
        reason=f"rate limited by {name} (HTTP 429)",
        kind="rate_limit",
        status_code=429,
        provider=name,
        message="slow down",
        retrying_at=NOW + 2.0,
    )
    assert len(fake_llm.requests) == 2


@pytest.mark.asyncio
@pytest.mark.parametrize("family", FAMILIES)
async def test_an_absurd_retry_after_is_replaced_by_backoff(fake_llm: FakeLLM, family: str) -> None:
    fake_llm.script("default", [reply(fault=http_error(429, retry_after=86400)), reply(text("ok"))])
    async with retrying(fake_llm, family) as h:
        assert answer_text(await collect(h.provider)) == "ok"
    assert h.sleeps == [1.0]


@pytest.mark.asyncio
@pytest.mark.parametrize("family", FAMILIES)
async def test_529_and_503_back_off_exponentially_up_to_the_cap(
    fake_llm: FakeLLM, family: str
) -> None:
    statuses = [529, 503, 529, 503, 529, 503]
    fake_llm.script(
        "default", [reply(fault=http_error(s)) for s in statuses] + [reply(text("finally"))]
    )
    async with retrying(fake_llm, family, base_delay=1.0, max_delay=5.0) as h:
        events = await collect(h.provider)
    assert answer_text(events) == "finally"
    assert h.sleeps == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert [n.delay_seconds for n in h.notices] == h.sleeps
    assert [n.attempt for n in h.notices] == [1, 2, 3, 4, 5, 6]
    assert [n.status_code for n in h.notices] == statuses
    expected_kind = "overloaded" if family == "anthropic" else "server"
    assert {n.kind for n in h.notices} == {expected_kind}
    assert h.notices[0].reason.startswith(NAMES[family])
    assert h.notices[0].reason.endswith("(HTTP 529)")
    assert len(fake_llm.requests) == 7


@pytest.mark.asyncio
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(
    ("status", "headers", "kind"),
    [
        (401, {}, "auth"),
        (400, {}, "bad_request"),
        # A vendor inviting a retry of a bad request is overruled: the same request fails again.
        (400, {"x-should-retry": "true"}, "bad_request"),
    ],
)
async def test_auth_and_bad_request_fail_at_once(
    fake_llm: FakeLLM, family: str, status: int, headers: dict[str, str], kind: str
) -> None:
    fake_llm.script(
        "default", [reply(fault=http_error(status, "nope", headers=headers)), reply(text("x"))]
    )
    async with retrying(fake_llm, family) as h:
        with pytest.raises(ProviderError) as info:
            await collect(h.provider)
    assert (info.value.kind, info.value.status_code) == (kind, status)
    assert info.value.describe() == f"{NAMES[family]}: nope (HTTP {status})"
    assert (h.notices, h.sleeps, len(fake_llm.requests)) == ([], [], 1)
    assert_no_key(info.value)


@pytest.mark.asyncio
@pytest.mark.parametrize("family", FAMILIES)
async def test_attempts_are_bounded_and_the_last_error_names_the_provider(
    fake_llm: FakeLLM, family: str
) -> None:
    fake_llm.script("default", [repeat(reply(fault=http_error(503, "upstream unavailable")))])
    async with retrying(fake_llm, family, max_attempts=4) as h:
        with pytest.raises(ProviderError) as info:
            await collect(h.provider)
    err = info.value
    assert not isinstance(err, StreamInterrupted)
    assert len(fake_llm.requests) == 4
    assert [n.attempt for n in h.notices] == [1, 2, 3]
    assert (err.status_code, err.retryable) == (503, True)
    assert err.describe() == (
        f"{NAMES[family]}: upstream unavailable (gave up after 4 attempts) (HTTP 503)"
    )
    assert_no_key(err)


@pytest.mark.asyncio
@pytest.mark.parametrize("family", FAMILIES)
async def test_the_api_key_never_shows_even_when_the_vendor_echoes_it(
    fake_llm: FakeLLM, family: str
) -> None:
    echo = f"key {KEY} is rate limited"
    fake_llm.script("default", [repeat(reply(fault=http_error(429, echo, retry_after=0)))])
    async with retrying(fake_llm, family, max_attempts=3) as h:
        with pytest.raises(ProviderError) as info:
            await collect(h.provider)
    assert len(h.notices) == 2
    assert "***" in info.value.message
    assert_no_key(info.value, *h.notices)


# ----- broken streams -----


@pytest.mark.asyncio
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("where", ["at_once", "before_text"])
async def test_a_disconnect_before_any_event_is_retried(
    fake_llm: FakeLLM, family: str, where: str
) -> None:
    frames = 0 if where == "at_once" else QUIET_FRAMES[family]
    fake_llm.script(
        "default", [reply(text(LONG_TEXT), fault=disconnect_after(frames)), reply(text("whole"))]
    )
    async with retrying(fake_llm, family) as h:
        events = await collect(h.provider)
    assert answer_text(events) == "whole"
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "whole"
    [notice] = h.notices
    assert (notice.kind, notice.status_code, notice.delay_seconds) == ("connection", None, 1.0)
    assert notice.reason == f"the connection to {NAMES[family]} failed"


@pytest.mark.asyncio
@pytest.mark.parametrize("family", FAMILIES)
async def test_a_disconnect_after_deltas_interrupts_and_the_caller_restarts(
    fake_llm: FakeLLM, family: str
) -> None:
    fake_llm.script(
        "default",
        [
            reply(text(LONG_TEXT), fault=disconnect_after(MID_TEXT_FRAMES[family])),
            reply(text("the whole answer")),
        ],
    )
    async with retrying(fake_llm, family) as h:
        # What the agent loop does: keep deltas, and on StreamInterrupted throw them away.
        partial: list[str] = []
        with pytest.raises(StreamInterrupted) as info:
            async for event in h.provider.stream(ask()):
                if isinstance(event, TextDelta):
                    partial.append(event.text)
        exc = info.value
        assert partial and LONG_TEXT.startswith("".join(partial))
        assert (exc.retryable, exc.kind, exc.attempt, exc.delay_seconds) == (
            True,
            "connection",
            1,
            1.0,
        )
        assert exc.events_discarded == len(partial)
        assert exc.cause.kind == "connection"
        assert exc.describe().startswith(f"{NAMES[family]}: the answer broke off midway: ")
        assert h.notices == []  # nothing reported until the caller decides to restart
        next_attempt = await h.provider.wait_to_restart(exc)
        assert next_attempt == 2
        assert h.sleeps == [1.0]
        assert h.notices[0].reason.endswith("; the partial answer was discarded")
        events = await collect(h.provider, first_attempt=next_attempt)
    assert answer_text(events) == "the whole answer"
    assert_no_key(exc)


@pytest.mark.asyncio
@pytest.mark.parametrize("family", FAMILIES)
async def test_restarts_share_one_attempt_budget(fake_llm: FakeLLM, family: str) -> None:
    broken = reply(text(LONG_TEXT), fault=disconnect_after(MID_TEXT_FRAMES[family]))
    fake_llm.script("default", [reply(fault=http_error(529)), broken, broken, reply(text("x"))])
    async with retrying(fake_llm, family, max_attempts=3) as h:
        with pytest.raises(StreamInterrupted) as first:
            await collect(h.provider)  # attempt 1: HTTP 529, retried inside; attempt 2 breaks
        assert (first.value.attempt, first.value.retryable) == (2, True)
        with pytest.raises(StreamInterrupted) as second:
            await collect(h.provider, first_attempt=await h.provider.wait_to_restart(first.value))
        assert (second.value.attempt, second.value.retryable) == (3, False)
        with pytest.raises(ProviderError) as final:
            await h.provider.wait_to_restart(second.value)
    assert not isinstance(final.value, StreamInterrupted)
    assert final.value.message.endswith("(gave up after 3 attempts)")
    assert h.sleeps == [1.0, 2.0]
    assert len(fake_llm.requests) == 3


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        ({"type": "overloaded_error", "message": "Overloaded"}, True),
        ({"type": "invalid_request_error", "message": "bad block"}, False),
    ],
)
async def test_in_stream_errors_after_text_interrupt_retryable_or_not(
    fake_llm: FakeLLM, error: dict[str, str], retryable: bool
) -> None:
    fake_llm.script("default", [reply(text(LONG_TEXT), stream_error=error)])
    async with retrying(fake_llm, "anthropic") as h:
        with pytest.raises(StreamInterrupted) as info:
            await collect(h.provider)
        assert info.value.retryable is retryable
        if not retryable:
            with pytest.raises(ProviderError) as final:
                await h.provider.wait_to_restart(info.value)
            assert final.value is info.value.cause
            assert h.sleeps == []


@pytest.mark.asyncio
@pytest.mark.parametrize("family", FAMILIES)
async def test_a_malformed_event_is_a_readable_provider_error(
    fake_llm: FakeLLM, family: str
) -> None:
    # Straight from the SDK provider, without the wrapper: mapped in llm/errors.py.
    fake_llm.script("default", [reply(text(LONG_TEXT), fault=malformed_event(0))])
    inner = make_inner(fake_llm, family)
    try:
        with pytest.raises(ProviderError) as info:
            async for _ in inner.stream(ask()):
                pass
    finally:
        await inner.aclose()
    err = info.value
    assert (err.kind, err.retryable, err.provider) == ("generic", True, NAMES[family])
    assert err.message.startswith("the provider sent a malformed stream event (invalid JSON")
    assert "{" not in err.message  # the payload itself is never echoed
    assert_no_key(err)


@pytest.mark.asyncio
@pytest.mark.parametrize("family", FAMILIES)
async def test_a_malformed_event_is_retried_before_text_and_interrupts_after(
    fake_llm: FakeLLM, family: str
) -> None:
    fake_llm.script(
        "default",
        [
            reply(text(LONG_TEXT), fault=malformed_event(0)),
            reply(text("clean")),
            reply(text(LONG_TEXT), fault=malformed_event(MID_TEXT_FRAMES[family])),
        ],
    )
    async with retrying(fake_llm, family) as h:
        assert answer_text(await collect(h.provider)) == "clean"
        [notice] = h.notices
        assert notice.reason.startswith(f"{NAMES[family]} failed: the provider sent a malformed")
        with pytest.raises(StreamInterrupted) as info:
            await collect(h.provider)
    assert (info.value.retryable, info.value.kind) == (True, "generic")


@pytest.mark.asyncio
@pytest.mark.parametrize("family", FAMILIES)
async def test_silence_before_text_is_retried_after_the_silence_timeout(
    fake_llm: FakeLLM, family: str
) -> None:
    fake_llm.script(
        "default",
        [
            reply(text(LONG_TEXT), fault=stall(10, after=QUIET_FRAMES[family])),
            reply(text("after the silence")),
        ],
    )
    async with retrying(fake_llm, family, silence_timeout=0.3) as h:
        started = time.monotonic()
        events = await collect(h.provider)
        waited = time.monotonic() - started
    assert answer_text(events) == "after the silence"
    assert 0.3 <= waited < 5
    [notice] = h.notices
    assert (notice.kind, notice.status_code) == (SILENCE_KIND, None)
    assert notice.reason == f"{NAMES[family]} sent nothing for 0.3 s"


@pytest.mark.asyncio
@pytest.mark.parametrize("family", FAMILIES)
async def test_silence_covers_the_wait_for_the_response_itself(
    fake_llm: FakeLLM, family: str
) -> None:
    def slow(request: dict[str, Any]) -> Any:
        time.sleep(1.5)  # runs in the fake's executor: no response headers meanwhile
        return reply(text("late"))

    fake_llm.script("default", [slow, reply(text("prompt"))])
    async with retrying(fake_llm, family, silence_timeout=0.3) as h:
        assert answer_text(await collect(h.provider)) == "prompt"
    assert [n.kind for n in h.notices] == [SILENCE_KIND]


@pytest.mark.asyncio
@pytest.mark.parametrize("family", FAMILIES)
async def test_silence_after_text_interrupts(fake_llm: FakeLLM, family: str) -> None:
    fake_llm.script(
        "default", [reply(text(LONG_TEXT), fault=stall(10, after=MID_TEXT_FRAMES[family]))]
    )
    async with retrying(fake_llm, family, silence_timeout=0.3) as h:
        with pytest.raises(StreamInterrupted) as info:
            await collect(h.provider)
    exc = info.value
    assert (exc.kind, exc.retryable, exc.cause.kind) == (SILENCE_KIND, True, SILENCE_KIND)
    assert exc.message == "the answer broke off midway: no data from the provider for 0.3 s"


@pytest.mark.asyncio
@pytest.mark.parametrize("family", FAMILIES)
async def test_a_slow_steady_stream_is_not_silence(fake_llm: FakeLLM, family: str) -> None:
    # Every wait is shorter than the limit (at most three frames without an event, 0.15 s),
    # all of them together much longer.
    words = "one two three four five six seven eight nine ten".split()
    fake_llm.script("default", [reply(*(text(w) for w in words), delay=0.05)])
    async with retrying(fake_llm, family, silence_timeout=0.25) as h:
        started = time.monotonic()
        events = await collect(h.provider)
        assert time.monotonic() - started > 0.5
    assert answer_text(events) == "".join(words)
    assert h.notices == []


@pytest.mark.asyncio
async def test_slow_consumers_do_not_count_as_silence(fake_llm: FakeLLM) -> None:
    fake_llm.script("default", [reply(text(LONG_TEXT))])
    async with retrying(fake_llm, "chat", silence_timeout=0.2) as h:
        async for _ in h.provider.stream(ask()):
            await asyncio.sleep(0.25)  # longer than the limit, but spent by the caller
    assert h.notices == []


@pytest.mark.asyncio
async def test_async_listeners_are_awaited_and_broken_ones_do_not_stop_the_retry(
    fake_llm: FakeLLM,
) -> None:
    fake_llm.script(
        "default", [reply(fault=http_error(529)), reply(fault=http_error(529)), reply(text("done"))]
    )
    seen: list[int] = []

    async def listener(notice: RetryNotice) -> None:
        await asyncio.sleep(0)
        seen.append(notice.attempt)
        if notice.attempt == 2:
            raise RuntimeError("listener bug")

    async def no_sleep(seconds: float) -> None:
        return None

    provider = RetryingProvider(
        make_inner(fake_llm, "anthropic"), RetryPolicy(jitter=0), listener, sleep=no_sleep
    )
    try:
        events = await collect(provider)
    finally:
        await provider.aclose()
    assert seen == [1, 2]
    assert answer_text(events) == "done"


@pytest.mark.asyncio
@pytest.mark.parametrize("family", FAMILIES)
async def test_a_caller_that_stops_early_closes_the_stream_quietly(
    fake_llm: FakeLLM, family: str
) -> None:
    fake_llm.script("default", [reply(text(LONG_TEXT), delay=0.05), reply(text("next"))])
    async with retrying(fake_llm, family) as h:
        async with contextlib.aclosing(h.provider.stream(ask())) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    break
        assert answer_text(await collect(h.provider)) == "next"
    assert (h.notices, len(fake_llm.requests)) == ([], 2)
