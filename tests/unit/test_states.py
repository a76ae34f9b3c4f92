"""Every cell of the chat status transition table, through the store's one gate."""

from __future__ import annotations

import itertools

import pytest

from coder_agents_jupyter.db.models import Chat
from coder_agents_jupyter.db.states import TRANSITIONS, ChatStatus, allowed_from
from coder_agents_jupyter.db.store import Store
from coder_agents_jupyter.errors import Conflict

ALLOWED = {
    ("pending", "running"),
    ("pending", "paused"),
    ("pending", "error"),
    ("running", "waiting"),
    ("running", "paused"),
    ("running", "error"),
    ("running", "requires_action"),
    ("running", "completed"),
    ("running", "pending"),
    ("waiting", "pending"),
    ("waiting", "completed"),
    ("requires_action", "running"),
    ("requires_action", "pending"),
    ("requires_action", "paused"),
    ("requires_action", "error"),
    ("paused", "pending"),
    ("paused", "completed"),
    ("error", "pending"),
    ("error", "completed"),
    ("completed", "pending"),
}


def test_table_is_what_the_lifecycle_says() -> None:
    table = {(a.value, b.value) for a, dsts in TRANSITIONS.items() for b in dsts}
    assert table == ALLOWED
    assert set(TRANSITIONS) == set(ChatStatus)


@pytest.mark.parametrize(("src", "dst"), list(itertools.product(ChatStatus, ChatStatus)))
def test_every_cell(src: ChatStatus, dst: ChatStatus) -> None:
    store = Store.__new__(Store)  # the gate needs no database
    chat = Chat(id="c", status=src.value, stop_requested="stop", worker_id="w")
    if src == dst or (src.value, dst.value) in ALLOWED:
        store._transition(chat, dst, error={"message": "x"})
        assert chat.status == dst.value
        assert (chat.error is not None) == (dst == ChatStatus.ERROR and src != dst)
        assert src in allowed_from(dst) or src == dst
    else:
        with pytest.raises(Conflict) as exc:
            store._transition(chat, dst)
        assert src.value in exc.value.message and dst.value in exc.value.message
        assert chat.status == src.value
