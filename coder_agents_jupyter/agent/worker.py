"""The worker: claims pending chats, runs them concurrently, keeps their leases alive, and
recovers chats whose process died.

A chat is owned by at most one worker (``chats.worker_id``) through a conditional update; the
owner refreshes ``heartbeat_at`` every ``heartbeat_seconds``. A chat whose heartbeat is older
than ``stale_after_seconds`` - or whose owner is a dead process on this host - goes back to
``pending`` and any worker resumes it from the database, so a SIGKILL loses nothing a user
sent. Stops requested through the API reach the owner through ``chats.stop_requested``
(seen at the next heartbeat, or at once when the API runs in the same process).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid

from ..settings import Limits
from .loop import ChatRun
from .runtime import Runtime

log = logging.getLogger(__name__)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_dead_local_worker(worker_id: str | None) -> bool:
    """A worker id names host and pid: a process of this host that is gone is dead for sure."""
    if not worker_id:
        return True
    host, _, rest = worker_id.partition(":")
    pid, _, _ = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    return int(pid) != os.getpid() and not _pid_alive(int(pid))


class Worker:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._runs: dict[str, tuple[ChatRun, asyncio.Task[None]]] = {}
        self._loops: list[asyncio.Task[None]] = []
        self._children: set[str] = set()
        rt.stop_local = self.stop_chat
        self._closing = False

    @property
    def limits(self) -> Limits:
        return self.rt.settings.limits  # read each time: settings may be replaced at run time

    async def start(self) -> None:
        await self.recover()
        self._loops = [
            asyncio.create_task(self._claim_loop(), name="coder-agents-claim"),
            asyncio.create_task(self._heartbeat_loop(), name="coder-agents-beat"),
        ]

    async def stop(self) -> None:
        """Server shutdown: cancel runs and hand their chats back for the next start."""
        self._closing = True
        for task in self._loops:
            task.cancel()
        runs = list(self._runs.items())
        for _, (run, task) in runs:
            run.stop_reason = "shutdown"
            task.cancel()
        for chat_id, (_, task) in runs:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            await self.rt.store.requeue(chat_id, self.id)
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def stop_chat(self, chat_id: str) -> bool:
        """Stop a run of this process now (the API calls this after recording the request)."""
        entry = self._runs.get(chat_id)
        if entry is None:
            return False
        run, task = entry
        run.stop_reason = "user"
        task.cancel()
        return True

    async def recover(self) -> None:
        """Requeue running chats whose owner is dead (this host) or silent for too long."""
        stale = {
            c.id: c for c in await self.rt.store.stale_running(self.limits.stale_after_seconds)
        }
        for chat in await self.rt.store.running_chats():
            if chat.id not in self._runs and is_dead_local_worker(chat.worker_id):
                stale[chat.id] = chat
        for chat in stale.values():
            if chat.id in self._runs:
                continue
            if await self.rt.store.requeue(chat.id, chat.worker_id):
                log.info("recovered chat %s from worker %s", chat.id, chat.worker_id)

    async def _claim_loop(self) -> None:
        while not self._closing:
            self.rt.bus.work_available.clear()
            try:
                free = self.limits.max_concurrent_chats - len(self._runs)
                children = self.limits.max_concurrent_subagents - len(self._children)
                for chat in await self.rt.store.claim(self.id, free, children):
                    if chat.parent_id:
                        self._children.add(chat.id)
                    self._start_run(chat.id)
            except Exception:
                log.exception("claiming chats failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.rt.bus.work_available.wait(), timeout=1.0)

    def _start_run(self, chat_id: str) -> None:
        run = ChatRun(self.rt, chat_id)
        task = asyncio.create_task(run.run(), name=f"coder-agents-chat-{chat_id}")
        self._runs[chat_id] = (run, task)

        def done(_: asyncio.Task[None]) -> None:
            if self._runs.get(chat_id, (None, None))[1] is task:
                del self._runs[chat_id]
                self._children.discard(chat_id)
            self.rt.bus.wake_worker()  # capacity freed

        task.add_done_callback(done)

    async def _heartbeat_loop(self) -> None:
        while not self._closing:
            await asyncio.sleep(self.limits.heartbeat_seconds)
            try:
                await self._beat()
            except Exception:
                log.exception("heartbeat failed; retrying")

    async def _beat(self) -> None:
        ids = list(self._runs)
        ours, stops = await self.rt.store.heartbeat(self.id, ids)
        for chat_id in ids:
            if chat_id in stops:
                self.stop_chat(chat_id)
            elif chat_id not in ours and chat_id in self._runs:
                run, task = self._runs[chat_id]
                if not task.done() and run.stop_reason is None:
                    log.warning("lost the lease of chat %s; cancelling its run", chat_id)
                    run.stop_reason = "shutdown"
                    task.cancel()
        await self.recover()
