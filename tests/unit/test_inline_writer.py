"""Hot-path writes on SQLite done in place (``db.inline``): the same rows as the async path,
and a fall back to it, never an error or a lost write, while another connection writes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import update

from coder_agents_jupyter.db import Caller, Store, connect
from coder_agents_jupyter.db.changes import ChangeLog
from coder_agents_jupyter.db.models import Chat, Message, utcnow
from coder_agents_jupyter.events import EventBus

ALICE = Caller("alice")


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    engine = await connect(f"sqlite:///{tmp_path / 'chats.db'}")
    store = Store(engine, EventBus())
    yield store
    store.close()
    await engine.dispose()


def row(chat_id: str, seq: int, text: str) -> Message:
    return Message(
        chat_id=chat_id,
        seq=seq,
        role="assistant",
        created_at=utcnow(),
        content=[{"type": "text", "text": text}],
        model="m",
        is_summary=False,
        usage={"input_tokens": 3, "output_tokens": 1},
        summary_through_seq=None,
    )


@pytest.mark.asyncio
async def test_append_in_place_is_read_back_like_any_message(store: Store) -> None:
    assert store.inline is not None
    chat = await store.create_chat(ALICE, [{"type": "text", "text": "hi"}], model="m")
    ids = [await store.append(row(chat.id, seq, f"answer {seq}")) for seq in (2, 3)]
    assert ids[0] < ids[1]
    messages = await store.list_messages(ALICE, chat.id)
    assert [m.content[0]["text"] for m in messages] == ["hi", "answer 2", "answer 3"]
    assert messages[-1].usage == {"input_tokens": 3, "output_tokens": 1}
    assert (await store.get_chat(ALICE, chat.id)).message_count == 3


@pytest.mark.asyncio
async def test_a_busy_database_sends_the_write_down_the_async_path(store: Store) -> None:
    chat = await store.create_chat(ALICE, [{"type": "text", "text": "hi"}], model="m")
    async with store.engine.begin() as conn:  # another writer holds the lock across awaits
        await conn.execute(update(Chat).where(Chat.id == chat.id).values(title="renamed"))
        assert store.inline is not None
        assert store.inline.run([]) is None  # busy: nothing written, no waiting
        appending = asyncio.create_task(store.append(row(chat.id, 2, "while busy")))
        await asyncio.sleep(0.2)
        assert not appending.done()  # waits its turn on the async path
    await asyncio.wait_for(appending, 10)
    messages = await store.list_messages(ALICE, chat.id)
    assert [m.content[0]["text"] for m in messages] == ["hi", "while busy"]
    got = await store.get_chat(ALICE, chat.id)
    assert (got.title, got.message_count) == ("renamed", 2)


@pytest.mark.asyncio
async def test_change_records_in_place_and_when_busy(store: Store) -> None:
    chat = await store.create_chat(ALICE, [{"type": "text", "text": "hi"}], model="m")
    log = ChangeLog(store.engine, store.inline)
    await log.record(chat.id, chat.id, None, "a.txt", None, b"one\n")
    async with store.engine.begin() as conn:
        await conn.execute(update(Chat).where(Chat.id == chat.id).values(title="busy"))
        recording = asyncio.create_task(
            log.record(chat.id, chat.id, None, "a.txt", b"one\n", b"two\n")
        )
        await asyncio.sleep(0.2)
        assert not recording.done()
    await asyncio.wait_for(recording, 10)
    changes = await log.changes([chat.id])
    assert [(c.seq, c.before, c.after) for c in changes] == [
        (1, None, "one\n"),
        (2, "one\n", "two\n"),
    ]
    [diff] = await log.diff([chat.id])
    assert diff.path == "a.txt" and diff.status == "added"
