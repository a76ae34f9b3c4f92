"""The fake vendor's scripted faults, checked on the raw wire (no SDK in between)."""

from __future__ import annotations

import json
import time

import httpx2
import pytest

from coder_agents_jupyter.testing import (
    FakeLLM,
    disconnect_after,
    http_error,
    malformed_event,
    reply,
    stall,
    text,
)

BODY = {
    "model": "m",
    "max_tokens": 50,
    "stream": True,
    "messages": [{"role": "user", "content": "x"}],
}
TEXT = "alpha beta gamma delta epsilon zeta eta theta iota kappa"


def url(fake: FakeLLM, protocol: str) -> str:
    if protocol == "anthropic":
        return f"{fake.base_url}/v1/messages"
    return f"{fake.openai_base_url}/chat/completions"


def frames_of(raw: bytes) -> list[str]:
    return [f for f in raw.decode().split("\n\n") if f]


def read_until_broken(fake: FakeLLM, protocol: str) -> tuple[bytes, BaseException | None]:
    """The body bytes that arrived, and the error that ended the read (None = clean end)."""
    received = b""
    with httpx2.Client() as client, client.stream("POST", url(fake, protocol), json=BODY) as r:
        try:
            for piece in r.iter_raw():
                received += piece
        except httpx2.HTTPError as exc:
            return received, exc
    return received, None


@pytest.mark.parametrize("protocol", ["anthropic", "chat"])
def test_http_error_sends_the_vendor_shape_and_exactly_the_given_headers(
    fake_llm: FakeLLM, protocol: str
) -> None:
    fake_llm.script(
        "default",
        [reply(fault=http_error(529)), reply(fault=http_error(429, "slow", retry_after=2.5))],
    )
    with httpx2.Client() as client:
        first = client.post(url(fake_llm, protocol), json=BODY)
        second = client.post(url(fake_llm, protocol), json=BODY)
    assert first.status_code == 529
    # Unlike ``error=``, no retry-after-ms is added: a client's own backoff must show.
    assert "retry-after" not in first.headers and "retry-after-ms" not in first.headers
    assert (second.status_code, second.headers["retry-after"]) == (429, "2.5")
    if protocol == "anthropic":
        assert first.json()["error"]["type"] == "overloaded_error"
        assert second.json()["error"] == {"type": "rate_limit_error", "message": "slow"}
    else:
        assert first.json()["error"]["type"] == "server_error"
        assert second.json()["error"]["code"] == "rate_limit_exceeded"


@pytest.mark.parametrize(("protocol", "count"), [("anthropic", 2), ("chat", 3), ("chat", 0)])
def test_disconnect_after_leaves_the_chunked_body_unfinished(
    fake_llm: FakeLLM, protocol: str, count: int
) -> None:
    fake_llm.script("default", [reply(text(TEXT), fault=disconnect_after(count))])
    received, error = read_until_broken(fake_llm, protocol)
    assert isinstance(error, httpx2.RemoteProtocolError)
    assert len(frames_of(received)) == count
    # The server is still fine for the next request.
    fake_llm.script("default", [reply(text("next"))])
    assert read_until_broken(fake_llm, protocol)[1] is None


def test_disconnect_after_more_frames_than_the_answer_has_still_never_finishes(
    fake_llm: FakeLLM,
) -> None:
    fake_llm.script("default", [reply(text("hi"), fault=disconnect_after(1000))])
    received, error = read_until_broken(fake_llm, "chat")
    assert isinstance(error, httpx2.RemoteProtocolError)
    assert received.endswith(b"data: [DONE]\n\n")


def test_malformed_event_keeps_its_event_name_and_skips_pings(fake_llm: FakeLLM) -> None:
    fake_llm.script("default", [reply(text(TEXT), fault=malformed_event(1))])
    received, error = read_until_broken(fake_llm, "anthropic")
    assert error is None  # the stream goes on; only one event is broken
    frames = frames_of(received)
    assert frames[1] == 'event: ping\ndata: {"type":"ping"}'  # frame 1 is a ping: left alone
    event, data = frames[2].split("\n")
    assert event == "event: content_block_start"
    with pytest.raises(ValueError):
        json.loads(data.removeprefix("data: "))
    for frame in frames[:2] + frames[3:]:
        json.loads(frame.split("data: ", 1)[1])
    assert frames[-1].startswith("event: message_stop")


def test_malformed_event_in_chat_completions(fake_llm: FakeLLM) -> None:
    fake_llm.script("default", [reply(text(TEXT), fault=malformed_event(0))])
    received, _ = read_until_broken(fake_llm, "chat")
    frames = frames_of(received)
    assert frames[0].startswith("data: {") and not frames[0].endswith("}")
    assert frames[-1] == "data: [DONE]"


@pytest.mark.parametrize("protocol", ["anthropic", "chat"])
def test_stall_goes_silent_then_finishes(fake_llm: FakeLLM, protocol: str) -> None:
    fake_llm.script("default", [reply(text(TEXT), fault=stall(0.5, after=1))])
    # When the body first held one complete frame, and when it first held two.
    seen: dict[int, float] = {}
    body = b""
    with httpx2.Client() as client, client.stream("POST", url(fake_llm, protocol), json=BODY) as r:
        for piece in r.iter_raw():
            body += piece
            seen.setdefault(min(body.count(b"\n\n"), 2), time.monotonic())
    assert len(frames_of(body)) > 2 and body.count(b"\n\n") == len(frames_of(body))
    assert seen[2] - seen[1] >= 0.45  # the silence comes right after the first frame
