"""When a running chat's rows reach the database (``agent.writer``): in the order they were
saved, at once or (a step's messages and file changes) once the next model request was sent
or ``BEHIND_S`` passed, in one transaction; everything at ``flush``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from coder_agents_jupyter.agent import writer as writer_module
from coder_agents_jupyter.agent.prompts import DEFAULT_SYSTEM_PROMPT
from coder_agents_jupyter.agent.runtime import Runtime
from coder_agents_jupyter.agent.writer import ChatWriter
from coder_agents_jupyter.db import Caller, Store, connect
from coder_agents_jupyter.db.changes import ChangeLog
from coder_agents_jupyter.db.models import Message, utcnow
from coder_agents_jupyter.events import EventBus, MessageEndEvent
from coder_agents_jupyter.llm.registry import make_provider
from coder_agents_jupyter.settings import build_settings
from coder_agents_jupyter.workspaces.local import LocalWorkspace

ALICE = Caller("alice")


@pytest_asyncio.fixture
async def rt(tmp_path: Path) -> AsyncIterator[Runtime]:
    engine = await connect(f"sqlite:///{tmp_path / 'chats.db'}")
    bus = EventBus()
    settings = build_settings(
        providers=[],
        models=[],
        system_prompt=DEFAULT_SYSTEM_PROMPT,
        admin_users=[],
        environ={},
    )
    store = Store(engine, bus)
    yield Runtime(
        store=store,
        bus=bus,
        settings=settings,
        provider_factory=make_provider,
        root_dir=str(tmp_path),
    )
    store.close()
    await engine.dispose()


def row(chat_id: str, seq: int) -> Message:
    return Message(
        chat_id=chat_id,
        seq=seq,
        role="assistant" if seq % 2 == 0 else "tool",
        created_at=utcnow(),
        content=[{"type": "text", "text": f"message {seq}"}],
        model=None,
        is_summary=False,
        usage=None,
        summary_through_seq=None,
    )


async def stored(rt: Runtime, chat_id: str) -> list[int]:
    return [m.seq for m in await rt.store.list_messages(ALICE, chat_id)]


@pytest.mark.asyncio
async def test_rows_are_written_in_order_each_when_its_time_comes(
    rt: Runtime, tmp_path: Path
) -> None:
    chat = await rt.store.create_chat(ALICE, [{"type": "text", "text": "hi"}], model="m")
    ended: list[int] = []
    ws = LocalWorkspace(tmp_path)

    async def get_workspace() -> LocalWorkspace:
        return ws

    writer = ChatWriter(rt, chat.id, lambda e: ended.append(e.message["seq"]), get_workspace)

    writer.now(row(chat.id, 2))  # in place: there at once
    assert await stored(rt, chat.id) == [1, 2]

    writer.behind(calls := row(chat.id, 3))
    writer.change(str(tmp_path / "f.txt"), None, b"new\n")
    writer.behind(results := row(chat.id, 4))
    await asyncio.sleep(0.01)
    assert (calls.id, results.id) == (None, None)  # they wait for the next model request
    assert await ChangeLog(rt.store.engine).changes([chat.id]) == []
    writer.release()
    assert calls.id is not None and results.id == calls.id + 1
    await writer.flush()
    [change] = await ChangeLog(rt.store.engine).changes([chat.id])
    assert (change.path, change.after) == ("f.txt", "new\n")

    writer.behind(row(chat.id, 5))
    writer.now(row(chat.id, 6))  # a row written now writes those waiting first
    writer.behind(row(chat.id, 7))
    await writer.flush()
    assert await stored(rt, chat.id) == [1, 2, 3, 4, 5, 6, 7]
    assert ended == [2, 3, 4, 5, 6, 7]


@pytest.mark.asyncio
async def test_rows_behind_are_written_after_a_while_without_a_request(
    rt: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "BEHIND_S", 0.05)
    chat = await rt.store.create_chat(ALICE, [{"type": "text", "text": "hi"}], model="m")
    events: list[MessageEndEvent] = []

    async def get_workspace() -> LocalWorkspace:
        return LocalWorkspace(tmp_path)

    writer = ChatWriter(rt, chat.id, events.append, get_workspace)
    writer.behind(row(chat.id, 2))
    await asyncio.sleep(0.01)
    assert await stored(rt, chat.id) == [1]
    await asyncio.sleep(0.1)
    assert await stored(rt, chat.id) == [1, 2]
    assert [e.message["seq"] for e in events] == [2]
