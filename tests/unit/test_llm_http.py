"""``after_request_sent``: through each SDK's real client, the callback runs once the request
has left and before the answer is read; requests made outside the block are untouched."""

from __future__ import annotations

from typing import Any

import pytest

from coder_agents_jupyter.llm.anthropic import AnthropicProvider
from coder_agents_jupyter.llm.http import after_request_sent
from coder_agents_jupyter.llm.openai_chat import OpenAIChatProvider
from coder_agents_jupyter.llm.types import Message, ModelRequest, TextBlock
from coder_agents_jupyter.testing.fake_provider import FakeLLM, reply, text


def make(fake: FakeLLM, family: str) -> Any:
    if family == "anthropic":
        return AnthropicProvider("a", "sk-test", base_url=fake.base_url, max_retries=0)
    return OpenAIChatProvider("o", "sk-test", base_url=fake.openai_base_url, max_retries=0)


@pytest.mark.asyncio
@pytest.mark.parametrize("family", ["anthropic", "openai"])
async def test_the_callback_runs_when_the_request_has_left(fake_llm: FakeLLM, family: str) -> None:
    fake_llm.script("default", lambda _body: reply(text("hi")))
    provider = make(fake_llm, family)
    request = ModelRequest(
        model="m", messages=[Message(role="user", content=[TextBlock(text="x")])]
    )
    log: list[str] = []
    try:
        with after_request_sent(lambda: log.append("sent")):
            async for event in provider.stream(request):
                log.append(type(event).__name__)
        assert log[0] == "sent"  # before the first event was handed out
        assert log.count("sent") == 1 and log[-1] == "StreamDone"
        async for _ in provider.stream(request):  # outside the block: no callback
            pass
        assert log.count("sent") == 1
    finally:
        await provider.aclose()
