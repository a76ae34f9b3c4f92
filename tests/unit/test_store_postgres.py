"""The store on PostgreSQL: migrations, and claims that never hand one chat to two workers."""

from __future__ import annotations

import asyncio

import pytest

from coder_agents_jupyter.db import Caller, ChatStatus, Store, connect
from coder_agents_jupyter.db.models import Message, utcnow
from coder_agents_jupyter.events import EventBus

pytestmark = pytest.mark.postgres


@pytest.mark.asyncio
async def test_concurrent_claims_are_exclusive(postgres_url: str) -> None:
    engines = [await connect(postgres_url) for _ in range(3)]  # migrations run 3x: idempotent
    stores = [Store(e, EventBus()) for e in engines]
    alice = Caller("alice")
    chats = [
        await stores[0].create_chat(alice, [{"type": "text", "text": f"job {i}"}], model="m")
        for i in range(30)
    ]
    claimed = await asyncio.gather(*(s.claim(f"worker{i}", 30) for i, s in enumerate(stores)))
    ids = [c.id for batch in claimed for c in batch]
    assert sorted(ids) == sorted(c.id for c in chats), "every chat claimed exactly once"
    for i, batch in enumerate(claimed):
        for chat in batch:
            assert chat.status == ChatStatus.RUNNING and chat.worker_id == f"worker{i}"
    # The rest of the lifecycle runs the same on PostgreSQL
    chat = chats[0]
    row = Message(
        chat_id=chat.id,
        seq=2,
        role="assistant",
        created_at=utcnow(),
        content=[{"type": "text", "text": "hi"}],
        model="m",
        is_summary=False,
        usage={"input_tokens": 5, "output_tokens": 2},
        summary_through_seq=None,
    )
    assert await stores[0].append(row) > 0
    assert await stores[0].finish_turn(chat.id) is None
    assert (await stores[1].get_chat(alice, chat.id)).status == "waiting"
    usage = await stores[2].usage_totals([chat.id])
    assert usage[chat.id] == {"input_tokens": 5, "output_tokens": 2}
    for e in engines:
        await e.dispose()
