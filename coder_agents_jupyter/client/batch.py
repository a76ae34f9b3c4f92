"""Batch prompts: many chats at a bounded concurrency, with a live progress bar.

The work is asyncio (``Batch.run_async``). The blocking ``Batch.run`` drives it on a private
event loop in a worker thread (a notebook's own loop is busy running the cell) while the
calling thread draws the progress bar and stays interruptible: the kernel's interrupt raises
``KeyboardInterrupt`` there, the batch is cancelled, and every chat it started is stopped
before the interrupt propagates. A row that fails is recorded with the server's reason and the
batch goes on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import json
import math
import os
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .api import AgentsError
from .chat import Backoff, Chat
from .models import ChatInfo, Usage, Workspace

if TYPE_CHECKING:
    from .agents import Agents

BatchResult = Any
"""A pandas DataFrame when pandas is installed, else a list of dicts (one per row)."""

ROW_OPTIONS = ("model", "workspace", "template", "parameters", "plan", "reasoning_effort")
STATUS_OF = {
    "waiting": "done",
    "completed": "done",
    "error": "error",
    "paused": "stopped",
    "requires_action": "requires_action",
}
COLUMNS = (
    "index",
    "prompt",
    "status",
    "answer",
    "error",
    "chat_id",
    "model",
    "workspace_id",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cost",
    "duration_s",
    "usage",
)
RENDER_EVERY = 0.2  # seconds between progress bar updates
STOP_WAIT = 30.0  # how long an interrupted batch waits for its chats to be stopped


@dataclass
class Row:
    index: Any
    prompt: str
    options: dict[str, Any]

    @property
    def key(self) -> str:
        return row_key(self.index, self.prompt)


def row_key(index: Any, prompt: Any) -> str:
    digest = hashlib.sha256(str(prompt).encode("utf-8", "replace")).hexdigest()[:16]
    return json.dumps([_plain(index), digest], default=str)


def _plain(value: Any) -> Any:
    """numpy scalars and the like as Python values (for JSON and for comparing keys)."""
    item = getattr(value, "item", None)
    if callable(item):
        with contextlib.suppress(Exception):
            return item()
    return value


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    try:
        import pandas as pd

        return bool(pd.isna(value)) if not isinstance(value, list | dict | tuple) else False
    except (ImportError, TypeError, ValueError):
        return False


def parse_rows(prompts: Any) -> tuple[list[Row], Any]:
    """Rows from a list of strings, a list of dicts, a pandas Series or DataFrame; and the
    name of the input's index (for the result table)."""
    if isinstance(prompts, str):
        prompts = [prompts]
    index_name = None
    items: Iterable[tuple[Any, Any]]
    if hasattr(prompts, "to_dict") and hasattr(prompts, "index"):  # pandas
        index_name = prompts.index.name
        if hasattr(prompts, "columns"):
            if "prompt" not in prompts.columns:
                raise ValueError(
                    "The table needs a 'prompt' column; its columns are "
                    f"{', '.join(map(str, prompts.columns))}."
                )
            items = zip(prompts.index, prompts.to_dict("records"), strict=True)
        else:
            items = zip(prompts.index, prompts.tolist(), strict=True)
    else:
        items = enumerate(prompts)
    rows: list[Row] = []
    for index, item in items:
        if isinstance(item, Mapping):
            if "prompt" not in item or _missing(item["prompt"]):
                raise ValueError(f"Row {index!r} has no prompt.")
            prompt = item["prompt"]
            options = {k: item[k] for k in ROW_OPTIONS if k in item and not _missing(item[k])}
        else:
            prompt, options = item, {}
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(f"Row {index!r}: the prompt must be a non-empty string.")
        rows.append(Row(_plain(index), prompt, options))
    keys = [r.key for r in rows]
    if len(set(keys)) != len(keys):
        raise ValueError("Two rows have the same index and prompt; give the table a unique index.")
    return rows, index_name


# ----- resuming -----


def _records_of(previous: Any) -> list[dict[str, Any]]:
    if hasattr(previous, "reset_index") and hasattr(previous, "to_dict"):  # a DataFrame
        table = previous.copy()
        table.index.name = "index"
        return list(table.reset_index().to_dict("records"))
    return [dict(r) for r in previous]


def load_checkpoint(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                continue  # a line cut short by a crash: that row just runs again
            raise ValueError(f"{path}:{number} is not a JSON line of a batch result.") from None
    return out


def done_records(previous: Any) -> dict[str, dict[str, Any]]:
    """Rows already done in a previous result, by row key (a later record of a row wins)."""
    if previous is None:
        return {}
    if isinstance(previous, str | os.PathLike):
        records = load_checkpoint(Path(previous))
    else:
        records = _records_of(previous)
    latest: dict[str, dict[str, Any]] = {}
    for rec in records:
        if "index" in rec and "prompt" in rec:
            latest[row_key(rec["index"], rec["prompt"])] = rec
    return {k: r for k, r in latest.items() if r.get("status") == "done"}


# ----- progress -----


@dataclass
class Snapshot:
    total: int
    done: int = 0
    failed: int = 0
    running: int = 0
    tokens: int = 0

    @property
    def finished(self) -> int:
        return self.done + self.failed

    def line(self) -> str:
        return (
            f"{self.finished}/{self.total} · {self.done} done · {self.running} running · "
            f"{self.failed} failed · {self.tokens:,} tokens"
        )


class Progress:
    """No progress display; the base of the others."""

    def update(self, s: Snapshot) -> None:
        pass

    def close(self, s: Snapshot) -> None:
        pass


class TqdmProgress(Progress):
    def __init__(self, total: int, notebook: bool) -> None:
        if notebook:
            from tqdm.notebook import tqdm
        else:
            from tqdm import tqdm
        self.bar = tqdm(total=total, desc="batch", unit="prompt", dynamic_ncols=True)

    def update(self, s: Snapshot) -> None:
        self.bar.n = s.finished
        self.bar.set_postfix(
            done=s.done, running=s.running, failed=s.failed, tokens=s.tokens, refresh=False
        )
        self.bar.refresh()

    def close(self, s: Snapshot) -> None:
        self.update(s)
        if s.failed and hasattr(self.bar, "colour"):
            with contextlib.suppress(Exception):
                self.bar.colour = "#e69500"
        self.bar.close()


class WidgetProgress(Progress):
    def __init__(self, total: int) -> None:
        import ipywidgets as widgets
        from IPython.display import display

        self.bar = widgets.IntProgress(value=0, min=0, max=max(total, 1), description="batch")
        self.label = widgets.HTML()
        self.box = widgets.HBox([self.bar, self.label])
        display(self.box)

    def update(self, s: Snapshot) -> None:
        self.bar.value = s.finished
        self.label.value = f"<span style='font-family: monospace'>{s.line()}</span>"

    def close(self, s: Snapshot) -> None:
        self.update(s)
        self.bar.bar_style = "warning" if s.failed else "success"


class TextProgress(Progress):
    """One line on stderr, rewritten in place."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.last = ""

    def update(self, s: Snapshot) -> None:
        line = f"batch: {s.line()}"
        if line != self.last:
            self.stream.write("\r" + line.ljust(len(self.last)))
            self.stream.flush()
            self.last = line

    def close(self, s: Snapshot) -> None:
        self.update(s)
        self.stream.write("\n")
        self.stream.flush()


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def make_progress(kind: bool | str, total: int) -> Progress:
    """``True`` picks: in a notebook tqdm's notebook bar, else an ipywidgets bar; outside one
    tqdm, else a text line."""
    if kind is False or kind is None:
        return Progress()
    kernel = _in_kernel()
    widgets = _has("ipywidgets")
    if kind == "tqdm" or (kind is True and _has("tqdm") and (widgets or not kernel)):
        return TqdmProgress(total, notebook=kernel and widgets)
    if kind == "widget" or (kind is True and kernel and widgets):
        return WidgetProgress(total)
    if kind in (True, "text"):
        return TextProgress()
    raise ValueError(f"progress must be True, False, 'tqdm', 'widget' or 'text', not {kind!r}.")


# ----- watching many chats -----


class Watcher:
    """Waits for many chats with one request per poll: ``GET chats`` lists the most recently
    updated chats (in-flight ones change, so they are near the top) with their status and
    usage. A chat the list does not show is polled on its own, at most once a second."""

    INDIVIDUAL_EVERY = 1.0

    def __init__(self, agents: Agents, concurrency: int) -> None:
        self.agents = agents
        self.limit = min(500, max(50, 4 * concurrency))
        self.chats: dict[str, tuple[Chat, asyncio.Event]] = {}
        self._polled: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def wait(self, chat: Chat, timeout: float | None) -> None:
        """Until ``chat`` is done; ``TimeoutError`` after ``timeout`` seconds."""
        done = asyncio.Event()
        self.chats[chat.id] = (chat, done)
        self._wake.set()
        try:
            await asyncio.wait_for(done.wait(), timeout)
        finally:
            self.chats.pop(chat.id, None)
            self._polled.pop(chat.id, None)

    async def _run(self) -> None:
        backoff = Backoff(self.agents.poll_first, self.agents.poll_max)
        while True:
            if not self.chats:
                self._wake.clear()
                await self._wake.wait()
                backoff.reset()
            try:
                changed = await self._poll()
            except AgentsError:
                changed = False  # a blip: the next poll tries again
            if changed:
                backoff.reset()
            await asyncio.sleep(backoff.next())

    async def _poll(self) -> bool:
        rows = await self.agents.api.arequest("GET", "chats", params={"limit": self.limit})
        listed = {r["id"]: r for r in rows if isinstance(r, dict) and "id" in r}
        changed = False
        now = time.monotonic()
        for chat_id, (chat, done) in list(self.chats.items()):
            data = listed.get(chat_id)
            if data is None:  # pushed out of the list by other activity: ask for it alone
                if now - self._polled.get(chat_id, 0) < self.INDIVIDUAL_EVERY:
                    continue
                self._polled[chat_id] = now
                with contextlib.suppress(AgentsError):
                    data = await self.agents.api.arequest("GET", f"chats/{chat_id}")
                if data is None:
                    continue
            info = ChatInfo.model_validate(data)
            if info.status != chat.info.status:
                changed = True
            chat.info = info
            if info.done:
                done.set()
        return changed


# ----- the batch -----


def _table(records: list[dict[str, Any]], index_name: Any) -> BatchResult:
    try:
        import pandas as pd
    except ImportError:
        return records
    frame = pd.DataFrame.from_records(records, columns=list(COLUMNS))
    frame = frame.set_index("index")
    frame.index.name = index_name
    return frame


@dataclass
class Batch:
    agents: Agents
    prompts: Any
    concurrency: int = 4
    model: str | None = None
    workspace: Workspace | str | None = None
    template: str | None = None
    parameters: Mapping[str, Any] | None = None
    plan: bool = False
    reasoning_effort: str | None = None
    timeout: float | None = None
    resume: Any = None
    progress: bool | str = True
    rows: list[Row] = field(init=False)
    index_name: Any = field(init=False)
    results: dict[str, dict[str, Any]] = field(init=False)
    active: dict[str, Chat] = field(init=False)

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1.")
        self.rows, self.index_name = parse_rows(self.prompts)
        previous = done_records(self.resume)
        self.results = {r.key: dict(previous[r.key]) for r in self.rows if r.key in previous}
        self.checkpoint = Path(self.resume) if isinstance(self.resume, str | os.PathLike) else None
        self.active = {}
        self.running = 0
        self._orphans: list[asyncio.Future[Chat]] = []
        self._workspace_ids: dict[str, str] = {}
        self._finished = threading.Event()
        self._lock = threading.Lock()

    # ----- what it has done so far -----

    def snapshot(self) -> Snapshot:
        with self._lock:
            results = list(self.results.values())
            active = list(self.active.values())
            running = self.running
        done = sum(1 for r in results if r.get("status") == "done")
        tokens = sum(int(r.get("total_tokens") or 0) for r in results)
        tokens += sum(c.info.usage.total_tokens for c in active)
        return Snapshot(len(self.rows), done, len(results) - done, running, tokens)

    def table(self) -> BatchResult:
        """The result so far: finished rows, and rows not run (status ``not_run``)."""
        records = []
        for row in self.rows:
            rec = self.results.get(row.key)
            if rec is None:
                rec = self._record(row, "not_run")
            records.append({c: rec.get(c) for c in COLUMNS})
        return _table(records, self.index_name)

    def _record(self, row: Row, status: str, **fields: Any) -> dict[str, Any]:
        rec: dict[str, Any] = dict.fromkeys(COLUMNS)
        rec.update(index=row.index, prompt=row.prompt, status=status)
        rec.update(fields)
        return rec

    def _finish(self, row: Row, rec: dict[str, Any]) -> None:
        with self._lock:
            self.results[row.key] = rec
        if self.checkpoint is not None:
            self._append_checkpoint(rec)

    def _append_checkpoint(self, rec: dict[str, Any]) -> None:
        assert self.checkpoint is not None
        line = json.dumps({k: _plain(v) for k, v in rec.items()}, default=str)
        with self.checkpoint.open("a", encoding="utf-8") as f:
            f.write(line + "\n")

    # ----- running -----

    def run(self) -> BatchResult:
        """Run to the end in a worker thread's event loop; this thread draws the progress."""
        loop = asyncio.new_event_loop()
        worker = threading.Thread(target=loop.run_forever, name="coder-agents-batch", daemon=True)
        worker.start()
        future = asyncio.run_coroutine_threadsafe(self._work(own_loop=True), loop)
        progress = make_progress(self.progress, len(self.rows))
        try:
            while True:
                try:
                    future.result(timeout=RENDER_EVERY)
                    break
                except concurrent.futures.TimeoutError:
                    progress.update(self.snapshot())
        except KeyboardInterrupt:
            future.cancel()  # the task stops its chats, then sets _finished
            self._finished.wait(STOP_WAIT)
            raise
        finally:
            self.agents.last_batch = self.table()
            progress.close(self.snapshot())
            loop.call_soon_threadsafe(loop.stop)
            worker.join(5)
            if not worker.is_alive():
                loop.close()
        return self.agents.last_batch

    async def run_async(self) -> BatchResult:
        progress = make_progress(self.progress, len(self.rows))
        work = asyncio.ensure_future(self._work())
        try:
            while not work.done():
                await asyncio.wait([work], timeout=RENDER_EVERY)
                progress.update(self.snapshot())
            work.result()
        except asyncio.CancelledError:
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await work
            raise
        finally:
            self.agents.last_batch = self.table()
            progress.close(self.snapshot())
        return self.agents.last_batch

    async def _work(self, *, own_loop: bool = False) -> None:
        try:
            await self._run_rows()
        finally:
            if own_loop:  # the private loop ends with the batch: so do its connections
                with contextlib.suppress(Exception):
                    await self.agents.api.aclose_loop_client()
            self._finished.set()

    async def _run_rows(self) -> None:
        todo = [r for r in self.rows if r.key not in self.results]
        if self.workspace is not None:  # a wrong batch-wide workspace fails the whole batch
            ws = await self.agents.workspace_async(self.workspace)
            self._workspace_ids[_ref_key(self.workspace)] = ws.id
        gate = asyncio.Semaphore(self.concurrency)
        self._watcher = Watcher(self.agents, self.concurrency)
        self._watcher.start()
        tasks = [asyncio.ensure_future(self._run_row(row, gate)) for row in todo]
        try:
            if tasks:
                await asyncio.gather(*tasks)
        except asyncio.CancelledError:
            # gather has cancelled every row, but it raises as soon as the first one ends:
            # wait for the others to stop their chats (cancelling them again would cut that
            # short).
            for task in tasks:
                if not task.done() and not task.cancelling():
                    task.cancel()
            await asyncio.wait(tasks)
            await self._stop_orphans()
            raise
        finally:
            await self._watcher.stop()

    async def _stop_orphans(self) -> None:
        """Chats whose creation was under way when the batch was cancelled: stop them too."""
        for pending in self._orphans:
            try:
                chat = await asyncio.wait_for(pending, 10)
            except (Exception, asyncio.CancelledError):
                continue
            with contextlib.suppress(AgentsError):
                await chat.stop_async()

    async def _run_row(self, row: Row, gate: asyncio.Semaphore) -> None:
        async with gate:
            with self._lock:
                self.running += 1
            started = time.monotonic()
            try:
                rec = await self._chat_row(row, started)
            except asyncio.CancelledError:
                self._finish(
                    row,
                    self._record(
                        row,
                        "stopped",
                        error="The batch was interrupted; the chat was stopped.",
                        duration_s=round(time.monotonic() - started, 3),
                    ),
                )
                raise
            except Exception as exc:  # a failed row is recorded; the batch goes on
                reason = exc.message if isinstance(exc, AgentsError) else f"{exc}"
                rec = self._record(
                    row,
                    "error",
                    error=reason or type(exc).__name__,
                    duration_s=round(time.monotonic() - started, 3),
                )
            finally:
                with self._lock:
                    self.running -= 1
            self._finish(row, rec)

    def _option(self, row: Row, name: str) -> Any:
        return row.options[name] if name in row.options else getattr(self, name)

    async def _workspace_for(self, row: Row) -> str | None:
        template = self._option(row, "template")
        if template is not None:
            params = self._option(row, "parameters") or {}
            if isinstance(params, str):
                params = json.loads(params)
            ws = await self.agents.create_workspace_async(template=template, parameters=params)
            return ws.id
        ref = self._option(row, "workspace")
        if ref is None:
            return None
        key = _ref_key(ref)
        if key not in self._workspace_ids:
            self._workspace_ids[key] = (await self.agents.workspace_async(ref)).id
        return self._workspace_ids[key]

    async def _chat_row(self, row: Row, started: float) -> dict[str, Any]:
        ws_id = await self._workspace_for(row)
        create = asyncio.ensure_future(
            self.agents.chat_async(
                row.prompt,
                model=self._option(row, "model"),
                workspace=ws_id,
                plan=bool(self._option(row, "plan")),
                reasoning_effort=self._option(row, "reasoning_effort"),
            )
        )
        try:
            chat = await asyncio.shield(create)
        except asyncio.CancelledError:
            self._orphans.append(create)  # the server may still create it: stop it then
            raise
        with self._lock:
            self.active[chat.id] = chat
        try:
            timed_out = False
            try:
                await self._watcher.wait(chat, self.timeout)
            except TimeoutError:
                timed_out = True
                with contextlib.suppress(AgentsError):
                    await chat.stop_async()
            except asyncio.CancelledError:  # the batch was interrupted: stop the chat
                with contextlib.suppress(AgentsError):
                    await asyncio.shield(chat.stop_async())
                raise
            status = STATUS_OF.get(chat.status, chat.status)
            error = chat.info.error_message if chat.status == "error" else None
            if timed_out:
                status = "error"
                error = f"Timed out after {self.timeout:g} s; the chat was stopped."
            elif status == "stopped":
                error = "The chat was stopped before it finished."
            elif status == "requires_action":
                error = _awaiting(chat.info)
            answer = await chat.result_async()
            usage = chat.info.usage
            return self._record(
                row,
                status,
                answer=answer,
                error=error,
                chat_id=chat.id,
                model=chat.model,
                workspace_id=chat.info.workspace_id,
                duration_s=round(time.monotonic() - started, 3),
                **_usage_fields(usage),
            )
        finally:
            with self._lock:
                self.active.pop(chat.id, None)


def _ref_key(ref: Any) -> str:
    return ref.id if isinstance(ref, Workspace) else str(ref)


def _usage_fields(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "cost": usage.cost,
        "usage": usage.as_dict(),
    }


def _awaiting(info: ChatInfo) -> str:
    what = ", ".join(sorted((info.awaiting or {}).keys())) or "an action"
    return (
        f"The chat is waiting for you ({what}); answer it in the chat panel or with the "
        f"client, e.g. agents.get_chat({info.id!r})."
    )
