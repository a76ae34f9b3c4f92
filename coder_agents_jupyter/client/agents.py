"""``Agents``: the entry point of the Python client.

Every verb has a blocking form and an ``*_async`` form (``chat`` / ``chat_async``...), both
over the same ``Api`` seam, so a script, a notebook cell and an asyncio program use the same
objects.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .api import AgentsError, Api
from .chat import Backoff, Chat
from .discover import discover
from .models import ChatInfo, Model, Template, Workspace

if TYPE_CHECKING:
    from .batch import BatchResult

WorkspaceRef = Workspace | str | None
"""A workspace object, its id or its name."""


class Agents:
    """The coder-agents server of this notebook.

    ``Agents()`` finds the running server (``JUPYTER_SERVER_URL``/``JUPYTER_TOKEN``, or the
    Jupyter runtime files); ``Agents(url, token)`` names one. ``poll_first``/``poll_max`` bound
    how often a waiting chat is polled.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        poll_first: float = 0.05,
        poll_max: float = 1.0,
    ) -> None:
        found = discover(url, token)
        self.url = found.url
        self.found_by = found.source
        self.api = Api(found.url, found.token, timeout=timeout)
        self.poll_first = poll_first
        self.poll_max = poll_max
        self.last_batch: BatchResult | None = None
        """The rows of the last batch, kept even when it was interrupted."""

    def __repr__(self) -> str:
        return f"Agents({self.url!r})"

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> Agents:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- models and templates -----

    def models(self) -> list[Model]:
        return [Model.model_validate(m) for m in self.api.request("GET", "models")]

    async def models_async(self) -> list[Model]:
        return [Model.model_validate(m) for m in await self.api.arequest("GET", "models")]

    def templates(self) -> list[Template]:
        return [Template.model_validate(t) for t in self.api.request("GET", "templates")]

    async def templates_async(self) -> list[Template]:
        return [Template.model_validate(t) for t in await self.api.arequest("GET", "templates")]

    # ----- workspaces -----

    def workspaces(self) -> list[Workspace]:
        return [Workspace.model_validate(w) for w in self.api.request("GET", "workspaces")]

    async def workspaces_async(self) -> list[Workspace]:
        rows = await self.api.arequest("GET", "workspaces")
        return [Workspace.model_validate(w) for w in rows]

    def workspace(self, ref: Workspace | str) -> Workspace:
        """A workspace by id or by name."""
        return _pick_workspace(ref, self._workspace_lookup(ref))

    async def workspace_async(self, ref: Workspace | str) -> Workspace:
        if isinstance(ref, Workspace):
            return ref
        try:
            data = await self.api.arequest("GET", f"workspaces/{ref}")
            return Workspace.model_validate(data)
        except AgentsError as exc:
            if exc.status != 404:
                raise
        return _pick_workspace(ref, await self.workspaces_async())

    def _workspace_lookup(self, ref: Workspace | str) -> list[Workspace]:
        if isinstance(ref, Workspace):
            return [ref]
        try:
            return [Workspace.model_validate(self.api.request("GET", f"workspaces/{ref}"))]
        except AgentsError as exc:
            if exc.status != 404:
                raise
        return self.workspaces()

    def create_workspace(
        self,
        name: str | None = None,
        *,
        template: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        path: str | None = None,
        wait: bool = True,
        timeout: float = 600,
    ) -> Workspace:
        """A new workspace: from a template (built on the server; ``wait`` for it to be
        ready), an empty scratch folder, or (admins) an existing folder ``path``."""
        body = _workspace_body(name, template, parameters, path)
        ws = Workspace.model_validate(self.api.request("POST", "workspaces", body))
        if not wait:
            return ws
        deadline, backoff = time.monotonic() + timeout, Backoff(0.1, 2.0)
        while ws.status == "provisioning":
            if time.monotonic() > deadline:
                raise TimeoutError(f"workspace {ws.id} is still provisioning after {timeout} s")
            time.sleep(backoff.next())
            ws = Workspace.model_validate(self.api.request("GET", f"workspaces/{ws.id}"))
        return _ready(ws)

    async def create_workspace_async(
        self,
        name: str | None = None,
        *,
        template: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        path: str | None = None,
        wait: bool = True,
        timeout: float = 600,
    ) -> Workspace:
        body = _workspace_body(name, template, parameters, path)
        ws = Workspace.model_validate(await self.api.arequest("POST", "workspaces", body))
        if not wait:
            return ws
        deadline, backoff = time.monotonic() + timeout, Backoff(0.1, 2.0)
        while ws.status == "provisioning":
            if time.monotonic() > deadline:
                raise TimeoutError(f"workspace {ws.id} is still provisioning after {timeout} s")
            await asyncio.sleep(backoff.next())
            data = await self.api.arequest("GET", f"workspaces/{ws.id}")
            ws = Workspace.model_validate(data)
        return _ready(ws)

    def delete_workspace(self, ref: Workspace | str) -> None:
        self.api.request("DELETE", f"workspaces/{self.workspace(ref).id}")

    async def delete_workspace_async(self, ref: Workspace | str) -> None:
        ws = await self.workspace_async(ref)
        await self.api.arequest("DELETE", f"workspaces/{ws.id}")

    # ----- chats -----

    def chat(
        self,
        prompt: str,
        *,
        model: str | None = None,
        workspace: WorkspaceRef = None,
        plan: bool = False,
        reasoning_effort: str | None = None,
        attachments: Iterable[str] = (),
    ) -> Chat:
        """Start a chat (it runs on the server); ``.wait()`` on it, then ``.result``."""
        ws_id = self._workspace_id(workspace)
        body = _chat_body(prompt, model, ws_id, plan, reasoning_effort, attachments)
        return Chat(self, self.api.request("POST", "chats", body))

    async def chat_async(
        self,
        prompt: str,
        *,
        model: str | None = None,
        workspace: WorkspaceRef = None,
        plan: bool = False,
        reasoning_effort: str | None = None,
        attachments: Iterable[str] = (),
    ) -> Chat:
        ws_id = await self._workspace_id_async(workspace)
        body = _chat_body(prompt, model, ws_id, plan, reasoning_effort, attachments)
        return Chat(self, await self.api.arequest("POST", "chats", body))

    def get_chat(self, chat_id: str) -> Chat:
        return Chat(self, self.api.request("GET", f"chats/{chat_id}"))

    async def get_chat_async(self, chat_id: str) -> Chat:
        return Chat(self, await self.api.arequest("GET", f"chats/{chat_id}"))

    def chats(self, *, status: str | None = None, limit: int = 50) -> list[Chat]:
        """Your chats, newest first."""
        rows = self.api.request("GET", "chats", params={"status": status, "limit": limit})
        return [Chat(self, ChatInfo.model_validate(r)) for r in rows]

    async def chats_async(self, *, status: str | None = None, limit: int = 50) -> list[Chat]:
        rows = await self.api.arequest("GET", "chats", params={"status": status, "limit": limit})
        return [Chat(self, ChatInfo.model_validate(r)) for r in rows]

    def _workspace_id(self, ref: WorkspaceRef) -> str | None:
        if ref is None:
            return None
        if isinstance(ref, Workspace):
            return ref.id
        return self.workspace(ref).id

    async def _workspace_id_async(self, ref: WorkspaceRef) -> str | None:
        if ref is None:
            return None
        if isinstance(ref, Workspace):
            return ref.id
        return (await self.workspace_async(ref)).id

    # ----- batches -----

    def batch(
        self,
        prompts: Any,
        *,
        concurrency: int = 4,
        model: str | None = None,
        workspace: WorkspaceRef = None,
        template: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        plan: bool = False,
        reasoning_effort: str | None = None,
        timeout: float | None = None,
        resume: Any = None,
        progress: bool | str = True,
    ) -> Any:
        """Run many prompts; a pandas DataFrame of results (a list of dicts without pandas).

        ``prompts``: a list of strings, or a table (a DataFrame, or a list of dicts) with a
        ``prompt`` column and optional per-row ``model``, ``workspace``, ``template``,
        ``parameters``, ``plan``, ``reasoning_effort`` overriding the arguments.
        ``template`` runs each prompt in a fresh workspace made from that workspace
        template. ``timeout`` (seconds per prompt) stops a chat that runs longer.
        ``resume``: a previous result, or a JSONL file the batch appends each finished row
        to; rows already done there are not run again. ``progress``: True (tqdm's notebook
        bar, else an ipywidgets one, else a text line), False, "tqdm", "widget" or "text".

        Each result row has the prompt, ``chat_id``, ``status`` (done, error, stopped,
        requires_action), ``answer``, token counts and ``usage``, ``cost`` (US dollars; 0 when
        the model has no prices), ``duration_s`` and ``error``. A failed row does not stop the
        batch; interrupting the cell stops the chats it started.
        """
        from .batch import Batch

        return Batch(self, prompts, **_batch_options(locals())).run()

    async def batch_async(
        self,
        prompts: Any,
        *,
        concurrency: int = 4,
        model: str | None = None,
        workspace: WorkspaceRef = None,
        template: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        plan: bool = False,
        reasoning_effort: str | None = None,
        timeout: float | None = None,
        resume: Any = None,
        progress: bool | str = True,
    ) -> Any:
        """``batch()`` for asyncio; cancelling it stops the chats it started."""
        from .batch import Batch

        return await Batch(self, prompts, **_batch_options(locals())).run_async()


def _batch_options(args: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in args.items() if k not in ("self", "prompts", "Batch")}


def _pick_workspace(ref: Workspace | str, candidates: list[Workspace]) -> Workspace:
    if isinstance(ref, Workspace):
        return ref
    by_id = [w for w in candidates if w.id == ref]
    if by_id:
        return by_id[0]
    by_name = [w for w in candidates if w.name == ref]
    if len(by_name) == 1:
        return by_name[0]
    if by_name:
        ids = ", ".join(w.id for w in by_name)
        raise AgentsError(
            409, "ambiguous", f"{len(by_name)} workspaces are named {ref!r} ({ids}); use an id."
        )
    names = ", ".join(sorted({w.name for w in candidates})) or "none"
    raise AgentsError(404, "not_found", f"No workspace {ref!r}. Your workspaces: {names}.")


def _ready(ws: Workspace) -> Workspace:
    if ws.status == "failed":
        message = f"Workspace {ws.name} ({ws.id}) failed to build."
        log = ws.build_log.strip().splitlines()[-10:]
        if log:
            message += "\n" + "\n".join(log)
        raise AgentsError(409, "workspace_failed", message)
    return ws


def _workspace_body(
    name: str | None,
    template: str | None,
    parameters: Mapping[str, Any] | None,
    path: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if name is not None:
        body["name"] = name
    if template is not None:
        body["template"] = template
    if parameters:
        body["parameters"] = dict(parameters)
    if path is not None:
        body["path"] = path
    return body


def _chat_body(
    prompt: str,
    model: str | None,
    workspace_id: str | None,
    plan: bool,
    reasoning_effort: str | None,
    attachments: Iterable[str],
) -> dict[str, Any]:
    body: dict[str, Any] = {"prompt": prompt}
    if model is not None:
        body["model"] = model
    if workspace_id is not None:
        body["workspace_id"] = workspace_id
    if plan:
        body["plan_mode"] = True
    if reasoning_effort is not None:
        body["reasoning_effort"] = reasoning_effort
    attached = list(attachments)
    if attached:
        body["attachments"] = attached
    return body
