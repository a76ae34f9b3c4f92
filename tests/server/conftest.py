"""A real Jupyter server with the extension, talking to the fake LLM vendor over HTTP."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from coder_agents_jupyter.testing.providers import fake_provider_config

TERMINAL = {"waiting", "paused", "error", "completed"}


def provider_config(base_url: str, protocol: str) -> dict[str, Any]:
    key_env = "FAKE_ANTHROPIC_KEY" if protocol == "anthropic" else "FAKE_OPENAI_KEY"
    provider = fake_provider_config(base_url, protocol, api_key_env=key_env)
    return {
        "providers": [provider],
        "models": [
            {"id": "fake-model", "provider": "fake", "context_window": 100_000, "default": True},
            {
                "id": "tiny-model",
                "provider": "fake",
                "context_window": 10_000,
                "compaction_threshold": 0.7,
            },
            {"id": "search-model", "provider": "fake", "web_search": True},
        ],
        "limits": {"heartbeat_seconds": 0.5, "stale_after_seconds": 5},
    }


@pytest.fixture(params=["anthropic", "openai-chat"])
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    """SQLite by default; PostgreSQL for tests marked ``postgres``."""
    if request.node.get_closest_marker("postgres"):
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'chats.db'}"


@pytest.fixture
def jp_server_config(fake_llm, protocol, db_url, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FAKE_ANTHROPIC_KEY", "sk-ant-test-secret-1234")
    monkeypatch.setenv("FAKE_OPENAI_KEY", "sk-openai-test-secret-5678")
    return {
        "ServerApp": {"jpserver_extensions": {"coder_agents_jupyter": True}},
        "CoderAgents": {
            "db_url": db_url,
            **provider_config(fake_llm.base_url, protocol),
        },
    }


class Api:
    """The REST API of the extension, as a test sees it."""

    def __init__(self, jp_fetch: Any, token: str | None = None) -> None:
        self.fetch = jp_fetch
        self.headers = {"Authorization": f"token {token}"} if token else {}

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        **params: Any,
    ) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {"method": method, "headers": {**self.headers, **(headers or {})}}
        if params:
            kwargs["params"] = params
        if raw is not None:
            kwargs["body"] = raw
        elif body is not None or method in ("POST", "PATCH"):
            kwargs["body"] = json.dumps(body if body is not None else {})
        try:
            resp = await self.fetch("coder-agents", "api", "v1", *path.split("/"), **kwargs)
        except HTTPClientError as exc:
            assert exc.response is not None
            return exc.code, json.loads(exc.response.body or b"null")
        text = resp.body or b""
        try:
            return resp.code, json.loads(text) if text else None
        except ValueError:
            return resp.code, text

    async def ok(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        status, data = await self.call(method, path, body, **params)
        assert status < 300, f"{method} {path} -> {status}: {data}"
        return data

    async def chat(self, prompt: str, **fields: Any) -> dict[str, Any]:
        return await self.ok("POST", "chats", {"prompt": prompt, **fields})  # type: ignore

    async def wait(
        self, chat_id: str, statuses: set[str] = TERMINAL, timeout: float = 60
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            chat = await self.ok("GET", f"chats/{chat_id}")
            if chat["status"] in statuses:
                return chat  # type: ignore[no-any-return]
            assert time.monotonic() < deadline, f"chat stuck in {chat['status']}"
            await asyncio.sleep(0.05)

    async def messages(self, chat_id: str) -> list[dict[str, Any]]:
        return await self.ok("GET", f"chats/{chat_id}/messages")  # type: ignore

    async def wait_for_tool_call(self, chat_id: str, timeout: float = 30) -> None:
        """Until the assistant message with a tool call is saved (its tools then run)."""
        deadline = time.monotonic() + timeout
        while not any(
            b["type"] == "tool_call" for m in await self.messages(chat_id) for b in m["content"]
        ):
            assert time.monotonic() < deadline, "no tool call was made"
            await asyncio.sleep(0.05)


@pytest.fixture
def api(jp_fetch):  # type: ignore[no-untyped-def]
    return Api(jp_fetch)


@pytest.fixture
def api_as(jp_fetch):  # type: ignore[no-untyped-def]
    """``api_as("alice")``: the API as the user a ``TokenUsers`` token names."""
    return lambda user: Api(jp_fetch, f"user-{user}")
