"""Sub-agents of a chat: child chats in the parent's workspace, run by the same worker.

A child is an ordinary chat with ``parent_id`` and ``root_id`` set, so everything chats have
(the queue, stop, crash recovery, usage) holds for it too. Its report is its latest assistant
text. Children get no platform or orchestration tools; ``explore`` children are read-only.
"""

from __future__ import annotations

import time
from typing import Any

from ..db.models import Chat
from ..db.states import ACTIVE, ChatStatus
from ..db.store import Caller
from ..errors import ApiError, ToolError
from .runtime import Runtime

DONE = frozenset({ChatStatus.WAITING, ChatStatus.ERROR, ChatStatus.COMPLETED, ChatStatus.PAUSED})
REPORT_LIMIT = 20_000


class ChatAgents:
    def __init__(self, rt: Runtime, parent: Chat) -> None:
        self.rt = rt
        self.parent = parent
        info = parent.owner_info or {}
        self.owner = Caller(
            name=parent.owner,
            display_name=info.get("display_name", ""),
            email=info.get("email", ""),
            groups=frozenset(info.get("groups", ())),
        )

    async def _child(self, chat_id: str) -> Chat:
        try:
            chat = await self.rt.store.get_chat(self.owner, chat_id)
        except ApiError:
            chat = None
        if chat is None or chat.parent_id != self.parent.id:
            raise ToolError(
                f"{chat_id} is not one of your sub-agents; spawn_agent returns their ids."
            )
        return chat

    async def spawn(
        self, kind: str, prompt: str, title: str | None, model: str | None
    ) -> dict[str, Any]:
        limits = self.rt.settings.limits
        children = await self.rt.store.children(self.parent.id)
        if len(children) >= limits.max_children_per_chat:
            raise ToolError(
                f"This chat already has {len(children)} sub-agents, the admin's "
                "limit: reuse one with message_agent, or close_agent one first."
            )
        chosen = self.rt.settings.model(model) if model else self.rt.model_for(self.parent)
        if chosen is None:
            enabled = ", ".join(m.id for m in self.rt.settings.available_models())
            raise ToolError(f"Unknown model {model!r}; enabled models: {enabled}.")
        workspace = await self._parent_workspace()
        chat = await self.rt.store.create_chat(
            self.owner,
            [{"type": "text", "text": prompt}],
            model=chosen.id,
            workspace_id=workspace,
            parent_id=self.parent.id,
            title=title,
            agent_type=kind,
        )
        return {"chat_id": chat.id, "title": chat.title, "type": kind, "status": chat.status}

    async def _parent_workspace(self) -> str | None:
        """Children share the parent's workspace; bind one now if the parent has none yet."""
        parent = await self.rt.store.load(self.parent.id)
        if parent.workspace_id is None and self.rt.settings.default_workspace == "root":
            await self.rt.workspace_for(parent.id)
            parent = await self.rt.store.load(self.parent.id)
        return parent.workspace_id

    async def _report(self, chat: Chat) -> dict[str, Any]:
        messages = await self.rt.store.list_messages(self.owner, chat.id, limit=5000)
        text = next(
            (
                "".join(b.get("text", "") for b in m.content if b.get("type") == "text")
                for m in reversed(messages)
                if m.role == "assistant"
            ),
            "",
        )
        out: dict[str, Any] = {
            "chat_id": chat.id,
            "title": chat.title,
            "status": chat.status,
            "report": text[-REPORT_LIMIT:],
        }
        if chat.error:
            out["error"] = chat.error.get("message")
        return out

    async def wait(self, chat_ids: list[str], timeout: float, mode: str) -> dict[str, Any]:
        for chat_id in chat_ids:
            await self._child(chat_id)
        deadline = time.monotonic() + timeout
        while True:
            chats = [await self.rt.store.load(c) for c in chat_ids]
            done = [c for c in chats if c.status in DONE]
            enough = len(done) == len(chats) or (mode == "first" and bool(done))
            if enough or time.monotonic() >= deadline:
                break
            remaining = deadline - time.monotonic()
            await self.rt.bus.wait_for_change(self.parent.id, timeout=min(1.0, remaining))
        running = [c for c in chats if c.status not in DONE]
        return {
            "mode": mode,
            "timed_out": bool(running) and not (mode == "first" and done),
            "finished": [await self._report(c) for c in done],
            "still_running": [
                {"chat_id": c.id, "title": c.title, "status": c.status} for c in running
            ],
        }

    async def message(self, chat_id: str, message: str, interrupt: bool) -> dict[str, Any]:
        await self._child(chat_id)
        queued, row = await self.rt.store.send_message(
            self.owner, chat_id, [{"type": "text", "text": message}]
        )
        if queued and interrupt:
            await self.rt.store.send_queued_now(self.owner, chat_id, row.id)
            self.rt.stop_local(chat_id)
        return {
            "chat_id": chat_id,
            "queued": queued and not interrupt,
            "note": "Collect the answer with wait_agent.",
        }

    async def close(self, chat_id: str) -> dict[str, Any]:
        chat = await self._child(chat_id)
        if chat.status in ACTIVE:
            await self.rt.store.request_stop(self.owner, chat_id)
            self.rt.stop_local(chat_id)
            deadline = time.monotonic() + 30
            while chat.status in ACTIVE and time.monotonic() < deadline:
                await self.rt.bus.wait_for_change(self.parent.id, timeout=0.5)
                chat = await self.rt.store.load(chat_id)
        chat = await self.rt.store.complete(chat_id)
        return await self._report(chat)
