"""Retrying model calls: backoff, ``retry-after``, stream silence, and streams that break midway.

``RetryingProvider`` wraps any ``Provider`` (give the SDK client ``max_retries=0`` so only this
policy retries and every retry is visible). One model call is a stream, so a failure is handled
by *when* it happens:

* **before the first event reached the caller** (HTTP 429/5xx, refused or dropped connection,
  a malformed first event, silence while waiting for the answer): nothing has to be undone, so
  the wrapper waits and calls again by itself, reporting each retry through ``on_retry``;
* **after some events were yielded**: the caller already showed or kept partial output, which a
  new call would repeat, so the wrapper raises ``StreamInterrupted``. The caller discards the
  partial message, calls ``wait_to_restart(exc)`` (which reports and waits, or raises the final
  error when no retry is left) and calls ``stream(request, first_attempt=...)`` again with what
  it returned, so one attempt budget covers both kinds of failure.

Whether an error is worth retrying is decided once, in ``llm/errors.py`` (``ProviderError.
retryable``, which also honours the vendor's ``x-should-retry``); the policy only refuses the kinds
that no wait can fix even if a vendor says otherwise.

Delays: the vendor's ``retry-after`` when it is sane (0 to ``max_retry_after`` seconds), else
``base_delay`` doubling per retry up to ``max_delay``, with a random part taken off (jitter) so
many chats hitting one limit do not come back in lockstep.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ProviderError
from .base import Provider
from .errors import to_provider_error
from .types import ModelRequest, StreamDone, StreamEvent

log = logging.getLogger(__name__)

SILENCE_KIND = "stream_silence_timeout"

# An admin or the request itself must change: waiting cannot help, whatever a header says.
NEVER_RETRY = frozenset({"auth", "bad_request", "content_filter", "context_overflow", "config"})

# The start of the sentence a retry notice gives; the HTTP status is appended when known.
_REASONS = {
    "rate_limit": "rate limited by {provider}",
    "overloaded": "{provider} is overloaded",
    "server": "{provider} had an internal error",
    "timeout": "the request to {provider} timed out",
    "connection": "the connection to {provider} failed",
}


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry one model call.

    ``max_attempts`` counts every call, the first included. ``silence_timeout`` (None = off)
    bounds the wait for each next stream event, the first one included.
    """

    max_attempts: int = 8
    base_delay: float = 1.0
    max_delay: float = 60.0
    max_retry_after: float = 120.0
    jitter: float = 0.2
    silence_timeout: float | None = 600.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must not be negative")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter is a fraction between 0 and 1")
        if self.silence_timeout is not None and self.silence_timeout <= 0:
            raise ValueError("silence_timeout must be positive (or None for no limit)")

    def should_retry(self, error: ProviderError) -> bool:
        return error.retryable and error.kind not in NEVER_RETRY

    def delay(self, retry: int, retry_after: float | None = None, rand: float = 0.0) -> float:
        """Seconds to wait before retry number ``retry`` (1 = the first retry).

        ``rand`` in [0, 1) picks the jitter. A sane ``retry-after`` wins without jitter: the
        vendor knows when its limit resets. An absurd one (an hour for a daily quota) is ignored
        rather than obeyed, and the attempt bound ends the call instead.
        """
        if retry_after is not None and math.isfinite(retry_after):
            if 0 <= retry_after <= self.max_retry_after:
                return retry_after
        exponent = min(max(retry - 1, 0), 60)  # 2.0**1100 overflows; the cap is hit long before
        backoff = min(self.max_delay, self.base_delay * 2.0**exponent)
        return backoff * (1.0 - self.jitter * rand)


@dataclass(frozen=True)
class RetryNotice:
    """One retry about to happen, for the chat's ``retry`` event and the UI countdown.

    ``attempt`` is the retry number (1 = the first retry); ``max_attempts - 1`` retries at most.
    ``message`` is the vendor's own (already scrubbed) wording; ``reason`` is the sentence to show.
    """

    attempt: int
    max_attempts: int
    delay_seconds: float
    reason: str
    kind: str
    status_code: int | None
    provider: str
    message: str
    retrying_at: float  # wall clock (epoch seconds) when the next attempt starts


OnRetry = Callable[[RetryNotice], Awaitable[None] | None]


class StreamInterrupted(ProviderError):
    """The stream failed after ``events_discarded`` events had been yielded.

    Everything the caller received from this stream must be thrown away: a new call answers from
    the start. ``retryable`` says whether the policy allows another attempt (kind and budget);
    ``delay_seconds`` is the wait it asks for; ``cause`` is the underlying error. ``kind`` and
    ``status_code`` are the cause's.
    """

    def __init__(
        self,
        cause: ProviderError,
        *,
        retryable: bool,
        attempt: int,
        delay_seconds: float,
        events_discarded: int,
    ) -> None:
        super().__init__(
            f"the answer broke off midway: {cause.message}",
            provider=cause.provider,
            kind=cause.kind,
            status_code=cause.status_code,
            retryable=retryable,
            retry_after=cause.retry_after,
        )
        self.cause = cause
        self.attempt = attempt
        self.delay_seconds = delay_seconds
        self.events_discarded = events_discarded


def describe_retry(error: ProviderError, silence_timeout: float | None = None) -> str:
    """A human sentence for why a call is retried, e.g. "rate limited by anthropic (HTTP 429)"."""
    provider = error.provider
    if error.kind == SILENCE_KIND and silence_timeout is not None:
        base = f"{provider} sent nothing for {silence_timeout:g} s"
    elif error.kind in _REASONS:
        base = _REASONS[error.kind].format(provider=provider)
    else:
        base = f"{provider} failed: {error.message}"
    return f"{base} (HTTP {error.status_code})" if error.status_code else base


class RetryingProvider:
    """A ``Provider`` that retries the wrapped one under ``policy``.

    It carries its caller's ``on_retry``, so make one per chat turn around the shared provider
    (it is a thin object; ``aclose`` closes the wrapped provider, so a per-turn wrapper is simply
    dropped, not closed). ``sleep``, ``rand`` (jitter) and ``clock`` are injectable for tests.
    """

    def __init__(
        self,
        inner: Provider,
        policy: RetryPolicy | None = None,
        on_retry: OnRetry | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.policy = policy or RetryPolicy()
        self.on_retry = on_retry
        self._sleep = sleep
        self._random = rand
        self._clock = clock

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def stream(
        self, request: ModelRequest, *, first_attempt: int = 1
    ) -> AsyncIterator[StreamEvent]:
        """Stream one model call, retrying failures that happen before the first event.

        Raises ``StreamInterrupted`` for a failure after events were yielded, and the last
        ``ProviderError`` when it cannot be retried or the attempts are used up.
        ``first_attempt`` continues a budget after ``wait_to_restart``.
        """
        attempt = first_attempt
        while True:
            yielded = 0
            try:
                async with contextlib.aclosing(self._attempt(request)) as events:
                    async for event in events:
                        yielded += 1
                        yield event
                return
            except StreamInterrupted:
                raise  # a wrapped RetryingProvider already decided
            except ProviderError as exc:
                error = exc
            if yielded:
                raise self._interrupted(error, attempt, yielded) from None
            if not self.policy.should_retry(error):
                raise error
            if attempt >= self.policy.max_attempts:
                raise _gave_up(error, attempt) from None
            delay = self.policy.delay(attempt, error.retry_after, self._random())
            await self._wait(error, attempt, delay, describe_retry(error, self._silence()))
            attempt += 1

    async def wait_to_restart(self, interrupted: StreamInterrupted) -> int:
        """Report and wait out the retry after ``interrupted``; returns the ``first_attempt`` to
        pass to the next ``stream`` call. Raises the final ``ProviderError`` when no retry is
        left (not retryable, or the attempts are used up)."""
        cause = interrupted.cause
        if not interrupted.retryable:
            if self.policy.should_retry(cause):
                raise _gave_up(cause, interrupted.attempt) from None
            raise cause
        reason = f"{describe_retry(cause, self._silence())}; the partial answer was discarded"
        await self._wait(cause, interrupted.attempt, interrupted.delay_seconds, reason)
        return interrupted.attempt + 1

    # ----- one attempt -----

    async def _attempt(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        """The wrapped stream with a silence limit per event, every failure a ``ProviderError``."""
        finished = False
        events = self.inner.stream(request)
        # Only the waits for the next event count: time the caller spends between events
        # (saving, publishing) must not, nor be cancelled by it.
        watch = _SilenceWatch(self.policy.silence_timeout)
        try:
            async with watch:
                while True:
                    watch.waiting()
                    try:
                        event = await anext(events)
                    except StopAsyncIteration:
                        break
                    except ProviderError:
                        raise
                    except Exception as exc:
                        # A provider that lets a transport or decode error through unmapped.
                        mapped = to_provider_error(exc, self.name)
                        if mapped is None:
                            raise
                        raise mapped from None
                    finally:
                        watch.done()
                    finished = isinstance(event, StreamDone)
                    yield event
        except TimeoutError:
            if not watch.expired():
                raise
            raise self._silence_error() from None
        finally:
            # Ends the HTTP response now, also when the caller stops early or time ran out. A
            # failure to close must not hide the error that got us here.
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        if not finished:
            raise ProviderError(
                "the response stream ended before the model finished",
                provider=self.name,
                kind="connection",
                retryable=True,
            )

    def _silence(self) -> float | None:
        return self.policy.silence_timeout

    def _silence_error(self) -> ProviderError:
        return ProviderError(
            f"no data from the provider for {self.policy.silence_timeout:g} s",
            provider=self.name,
            kind=SILENCE_KIND,
            retryable=True,
        )

    def _interrupted(self, error: ProviderError, attempt: int, yielded: int) -> StreamInterrupted:
        retryable = self.policy.should_retry(error) and attempt < self.policy.max_attempts
        delay = self.policy.delay(attempt, error.retry_after, self._random()) if retryable else 0.0
        return StreamInterrupted(
            error,
            retryable=retryable,
            attempt=attempt,
            delay_seconds=delay,
            events_discarded=yielded,
        )

    async def _wait(self, error: ProviderError, attempt: int, delay: float, reason: str) -> None:
        notice = RetryNotice(
            attempt=attempt,
            max_attempts=self.policy.max_attempts,
            delay_seconds=delay,
            reason=reason,
            kind=error.kind,
            status_code=error.status_code,
            provider=error.provider,
            message=error.message,
            retrying_at=self._clock() + delay,
        )
        log.warning(
            "%s: retry %d of %d in %.1f s: %s",
            self.name,
            attempt,
            self.policy.max_attempts - 1,
            delay,
            reason,
        )
        if self.on_retry is not None:
            try:
                result = self.on_retry(notice)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                # The retry matters more than its notice: a broken listener must not fail the call.
                log.exception("%s: the retry listener failed", self.name)
        await self._sleep(delay)


class _SilenceWatch:
    """The silence limit of one attempt with one timer, not one per event (a stream has
    hundreds): it fires at the earliest moment a wait could have lasted ``limit``, checks,
    and either expires (cancelling that wait: the block raises ``TimeoutError``) or sets
    itself again. Used as ``async with`` around the attempt."""

    def __init__(self, limit: float | None) -> None:
        self._limit = limit
        self._timeout = asyncio.timeout(None)
        self._since: float | None = None  # when the current wait began
        self._timer: asyncio.TimerHandle | None = None

    async def __aenter__(self) -> _SilenceWatch:
        self._loop = asyncio.get_running_loop()
        await self._timeout.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return await self._timeout.__aexit__(*exc_info)

    def expired(self) -> bool:
        return self._timeout.expired()

    def waiting(self) -> None:
        if self._limit is None:
            return
        self._since = now = self._loop.time()
        if self._timer is None:
            self._timer = self._loop.call_at(now + self._limit, self._check)

    def done(self) -> None:
        self._since = None

    def _check(self) -> None:
        self._timer = None
        if self._since is None or self._limit is None:
            return  # set again by the next wait
        due = self._since + self._limit
        if self._loop.time() >= due:
            self._timeout.reschedule(self._loop.time())
        else:
            self._timer = self._loop.call_at(due, self._check)


def _gave_up(error: ProviderError, attempts: int) -> ProviderError:
    """The last error, saying that retrying did not help (kind and status kept for the UI)."""
    if attempts <= 1:
        return error  # a policy of one attempt never retried: nothing to add
    return ProviderError(
        f"{error.message} (gave up after {attempts} attempts)",
        provider=error.provider,
        kind=error.kind,
        status_code=error.status_code,
        retryable=error.retryable,
        retry_after=error.retry_after,
    )
