"""The verbs people use (REST, notebooks): policy checks around the store, plus the worker.

Handlers stay thin by calling exactly one method here. Everything a user sends is checked
against admin policy (enabled models, image limits, ownership) before it is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..db.models import Attachment, Chat, QueuedMessage, Workspace, message_json
from ..db.store import Caller, Store, new_id, queue_item
from ..errors import (
    BadRequest,
    Conflict,
    NotFound,
    TooLarge,
    ToolError,
    UnsupportedType,
    WorkspaceError,
)
from ..settings import SETUP_HINT, ModelSettings
from ..templates import Template
from ..workspaces.provision import join, run_script
from .platform import build_workspace, new_workspace, visible_templates
from .runtime import Runtime
from .worker import Worker

IMAGE_SIGNATURES: list[tuple[bytes, str]] = [
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
]


def sniff_image(data: bytes) -> str | None:
    """The image type by content, never by name: PNG, JPEG, GIF or WebP."""
    for magic, media_type in IMAGE_SIGNATURES:
        if data.startswith(magic):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


async def _quiet(_: str) -> None:
    """Progress of work nobody watches live (its log is kept on the workspace)."""


class ChatService:
    def __init__(self, rt: Runtime, worker: Worker) -> None:
        self.rt = rt
        self.worker = worker
        self._builds: set[asyncio.Task[None]] = set()

    @property
    def store(self) -> Store:
        return self.rt.store

    # ----- policy -----

    def pick_model(self, requested: str | None) -> ModelSettings:
        settings = self.rt.settings
        if requested is None:
            model = settings.default_model()
            if model is None:
                raise Conflict(SETUP_HINT)
            return model
        model = settings.model(requested)
        if model is None:
            enabled = ", ".join(m.id for m in settings.available_models()) or "none"
            raise BadRequest(f"Unknown or disabled model {requested!r}. Enabled models: {enabled}.")
        return model

    def pick_effort(self, model: ModelSettings, effort: str | None) -> str | None:
        if effort is None:
            return None
        allowed = model.efforts()
        if effort not in allowed:
            choices = ", ".join(allowed) or "none (the model has no reasoning control)"
            raise BadRequest(
                f"Reasoning effort {effort!r} is not allowed for {model.id}; choose from {choices}."
            )
        return effort

    async def content(
        self, caller: Caller, text: str, attachments: list[str], model: ModelSettings
    ) -> list[dict[str, Any]]:
        if not text.strip() and not attachments:
            raise BadRequest("The message is empty.")
        blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text.strip() else []
        if attachments and not model.supports_images:
            raise BadRequest(f"The model {model.id} does not accept images.")
        for att in await self.store.check_attachments(caller, attachments):
            blocks.append({"type": "image", "attachment_id": att.id, "media_type": att.media_type})
        return blocks

    # ----- chats -----

    async def create_chat(
        self,
        caller: Caller,
        *,
        prompt: str,
        model: str | None,
        workspace_id: str | None,
        plan_mode: bool,
        attachments: list[str],
        reasoning_effort: str | None = None,
    ) -> Chat:
        chosen = self.pick_model(model)
        effort = self.pick_effort(chosen, reasoning_effort)
        if workspace_id is not None:
            await self.store.get_workspace(caller, workspace_id)
        content = await self.content(caller, prompt, attachments, chosen)
        return await self.store.create_chat(
            caller,
            content,
            model=chosen.id,
            workspace_id=workspace_id,
            plan_mode=plan_mode,
            reasoning_effort=effort,
        )

    async def send(
        self,
        caller: Caller,
        chat_id: str,
        text: str,
        attachments: list[str],
        reasoning_effort: str | None = None,
        plan_mode: bool | None = None,
    ) -> tuple[bool, dict[str, Any]]:
        chat = await self.store.get_chat(caller, chat_id)
        if plan_mode is not None and plan_mode != chat.plan_mode:
            await self.store.update_chat(caller, chat_id, plan_mode=plan_mode)
        model = self.rt.settings.model(chat.model) or self.pick_model(None)
        effort = self.pick_effort(model, reasoning_effort)
        content = await self.content(caller, text, attachments, model)
        if effort is not None and effort != chat.reasoning_effort:
            await self.store.update_chat(caller, chat_id, reasoning_effort=effort)
        queued, row = await self.store.send_message(caller, chat_id, content)
        if isinstance(row, QueuedMessage):
            return queued, queue_item(row)
        return queued, message_json(row)

    async def update(
        self,
        caller: Caller,
        chat_id: str,
        *,
        title: str | None,
        model: str | None,
        plan_mode: bool | None,
        reasoning_effort: str | None = None,
        workspace_id: str | None = None,
        tool_policy: dict[str, str] | None = None,
        kernel: dict[str, Any] | None = None,
        set_kernel: bool = False,
    ) -> Chat:
        """``set_kernel``: give (``kernel``) or take back (None) the kernel consent."""
        if set_kernel:
            await self._check_kernel(caller, chat_id, kernel)
        if workspace_id is not None:
            await self.store.get_workspace(caller, workspace_id)
        if tool_policy is not None:
            chat = await self.store.get_chat(caller, chat_id)
            own = {**(chat.tool_policy or {}), "tools": tool_policy}
            await self.store.update_chat(caller, chat_id, tool_policy=own)
        if model is not None or reasoning_effort is not None:
            chat = await self.store.get_chat(caller, chat_id)
            chosen = self.pick_model(model or chat.model)
            self.pick_effort(chosen, reasoning_effort)
        if title is not None and not title.strip():
            raise BadRequest("The title is empty.")
        if set_kernel:
            await self.store.set_kernel(caller, chat_id, kernel)
        return await self.store.update_chat(
            caller,
            chat_id,
            title=title,
            model=model,
            plan_mode=plan_mode,
            reasoning_effort=reasoning_effort,
            workspace_id=workspace_id,
        )

    async def _check_kernel(
        self, caller: Caller, chat_id: str, kernel: dict[str, Any] | None
    ) -> None:
        chat = await self.store.get_chat(caller, chat_id)
        if kernel is None:
            return
        if not self.rt.settings.kernel_tools:
            raise Conflict(
                "The kernel tools are turned off on this server (c.CoderAgents.kernel_tools = "
                "False): the agent cannot use a notebook's kernel."
            )
        if chat.parent_id is not None:
            raise BadRequest("Only a top-level chat can be given a notebook's kernel.")

    # ----- answering the agent -----

    async def decide_plan(
        self, caller: Caller, chat_id: str, decision: str, feedback: str | None
    ) -> tuple[bool, dict[str, Any]]:
        chat = await self.store.get_chat(caller, chat_id)
        if (chat.awaiting or {}).get("kind") != "plan":
            raise Conflict("No proposed plan waits for a decision in this chat.")
        if decision == "approve":
            await self.store.update_chat(caller, chat_id, plan_mode=False)
            text = "The plan is approved. Implement it now."
            if feedback:
                text += f"\n\n{feedback}"
        else:
            if not (feedback or "").strip():
                raise BadRequest("Say what should change in the plan (feedback).")
            text = f"Please revise the plan:\n\n{feedback}"
        return await self.send(caller, chat_id, text, [])

    async def answer(
        self, caller: Caller, chat_id: str, question_id: str, answers: list[str]
    ) -> tuple[bool, dict[str, Any]]:
        chat = await self.store.get_chat(caller, chat_id)
        awaiting = chat.awaiting or {}
        if awaiting.get("kind") != "question" or awaiting.get("question_id") != question_id:
            raise Conflict(f"No question {question_id} waits for answers in this chat.")
        questions = awaiting.get("questions", [])
        if len(answers) != len(questions):
            raise BadRequest(f"Give one answer per question ({len(questions)}).")
        lines = [f"{q['header']}: {a}" for q, a in zip(questions, answers, strict=True)]
        return await self.send(caller, chat_id, "My answers:\n" + "\n".join(lines), [])

    async def stop(self, caller: Caller, chat_id: str) -> Chat:
        chat = await self.store.request_stop(caller, chat_id)
        for chat_id_ in [chat_id, *(c.id for c in await self.store.children(chat_id))]:
            self.worker.stop_chat(chat_id_)
        return chat

    async def send_now(self, caller: Caller, chat_id: str, qid: int) -> Chat:
        chat = await self.store.send_queued_now(caller, chat_id, qid)
        if chat.stop_requested == "send_now":
            self.worker.stop_chat(chat_id)
        return chat

    async def archive(self, caller: Caller, chat_id: str) -> Chat:
        chat = await self.store.archive_chat(caller, chat_id)
        for chat_id_ in [chat_id, *(c.id for c in await self.store.children(chat_id))]:
            self.worker.stop_chat(chat_id_)
        return chat

    async def chat_json(self, chat: Chat, *, with_children: bool = True) -> dict[str, Any]:
        children = await self.store.children(chat.id) if with_children else []
        usage = await self.store.usage_totals([chat.id, *(c.id for c in children)])
        out = _chat_fields(chat, usage.get(chat.id, {}))
        if with_children:
            out["children"] = [_chat_fields(c, usage.get(c.id, {})) for c in children]
            tree = await self.store.usage_totals(await self.store.tree_ids(chat.root_id or chat.id))
            out["tree_usage"] = _sum_usage(tree.values())
        return out

    async def chats_json(self, chats: list[Chat]) -> list[dict[str, Any]]:
        usage = await self.store.usage_totals([c.id for c in chats])
        return [_chat_fields(c, usage.get(c.id, {})) for c in chats]

    # ----- attachments and workspaces -----

    async def upload(
        self, caller: Caller, name: str, declared: str | None, data: bytes
    ) -> Attachment:
        limit = self.rt.settings.limits.max_upload_bytes
        if len(data) > limit:
            raise TooLarge(f"The file is {len(data)} bytes; the limit is {limit} bytes.")
        media_type = sniff_image(data)
        if media_type is None:
            raise UnsupportedType(
                "Only PNG, JPEG, GIF and WebP images can be uploaded; "
                "this file's content is none of them."
            )
        if declared and declared not in (media_type, "application/octet-stream"):
            raise UnsupportedType(
                f"The file is labelled {declared} but its content is {media_type}."
            )
        return await self.store.save_attachment(caller.name, name or "image", media_type, data)

    async def create_workspace(
        self,
        caller: Caller,
        name: str | None,
        path: str | None,
        template: str | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> Workspace:
        """From a template (built in the background: watch its status), a scratch folder
        under the data dir, or (admins only) any existing folder."""
        if template is not None:
            tpl = self.template(caller, template)
            try:
                record = await new_workspace(self.rt, caller, tpl, parameters or {}, name)
            except ToolError as exc:
                raise BadRequest(str(exc)) from None
            task = asyncio.create_task(self._build(record, tpl))
            self._builds.add(task)
            task.add_done_callback(self._builds.discard)
            return record
        if path is not None and not caller.is_admin:
            raise BadRequest("Only admins may point a workspace at an existing folder.")
        folder = await asyncio.to_thread(self._folder, caller, path)
        return await self.store.create_workspace(caller, name or folder.name, "local", str(folder))

    async def _build(self, record: Workspace, template: Template) -> None:
        with contextlib.suppress(WorkspaceError):  # recorded as failed, with its build log
            await build_workspace(self.rt, record, template, _quiet)

    def templates(self, caller: Caller) -> list[Template]:
        return visible_templates(self.rt.settings.templates, caller)

    def template(self, caller: Caller, name: str) -> Template:
        found = next((t for t in self.templates(caller) if t.name == name), None)
        if found is None:
            raise NotFound(f"No template named {name!r}.")
        return found

    async def start_workspace(self, caller: Caller, workspace_id: str) -> Workspace:
        record = await self.store.get_workspace(caller, workspace_id)
        tpl = next((t for t in self.rt.settings.templates if t.name == record.template), None)
        if tpl is not None and tpl.provisioner.type == "command":
            try:
                await run_script(
                    tpl,
                    "start",
                    {"workspace_id": record.id, "username": record.owner},
                    record.parameters or {},
                    _quiet,
                )
            except WorkspaceError as exc:
                raise Conflict(str(exc)) from None
        await self.rt.forget_workspace(record.id)
        if tpl is not None and tpl.provisioner.type == "dial-out":
            # The workspace must run the join command again: show it in the build log and
            # become ready once it has connected (the caller polls the workspace).
            record = await self.store.update_workspace(record.id, status="provisioning")
            task = asyncio.create_task(self._rejoin(record, tpl))
            self._builds.add(task)
            task.add_done_callback(self._builds.discard)
            return record
        return await self.store.update_workspace(record.id, status="ready")

    async def _rejoin(self, record: Workspace, template: Template) -> None:
        lines: list[str] = []

        async def log(line: str) -> None:
            lines.append(line)
            await self.store.update_workspace(record.id, build_log="\n".join(lines))

        try:
            await join(template, record.id, self.rt.dial_out, log, record.parameters or {})
        except WorkspaceError as exc:
            await self.store.update_workspace(
                record.id, status="stopped", build_log="\n".join([*lines, str(exc)])
            )
            return
        await self.store.update_workspace(record.id, status="ready")

    async def delete_workspace(self, caller: Caller, workspace_id: str) -> None:
        record = await self.store.get_workspace(caller, workspace_id)
        if self.rt.dial_out is not None:
            self.rt.dial_out.disconnect(record.id)
        tpl = next((t for t in self.rt.settings.templates if t.name == record.template), None)
        if tpl is not None and tpl.provisioner.type == "command":
            with contextlib.suppress(WorkspaceError):  # deleted in our books either way
                await run_script(
                    tpl,
                    "delete",
                    {"workspace_id": record.id, "username": record.owner},
                    record.parameters or {},
                    _quiet,
                )
        await self.rt.forget_workspace(record.id)
        await self.store.delete_workspace(caller, workspace_id)

    def _folder(self, caller: Caller, path: str | None) -> Path:
        if path is not None:
            folder = Path(path).expanduser()
            if not folder.is_dir():
                raise BadRequest(f"{path} is not a folder on the server.")
        else:
            folder = Path(self.rt.data_dir) / "workspaces" / caller.name / new_id()
            folder.mkdir(parents=True, exist_ok=True)
        return folder.resolve()


def _sum_usage(usages: Iterable[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for usage in usages:
        for key, value in usage.items():
            total[key] = total.get(key, 0) + value
    return total


def _chat_fields(chat: Chat, usage: dict[str, int]) -> dict[str, Any]:
    return {
        "id": chat.id,
        "title": chat.title,
        "status": chat.status,
        "model": chat.model,
        "owner": chat.owner,
        "parent_id": chat.parent_id,
        "root_id": chat.root_id,
        "agent_type": chat.agent_type,
        "forked_from": chat.forked_from,
        "workspace_id": chat.workspace_id,
        "plan_mode": chat.plan_mode,
        "reasoning_effort": chat.reasoning_effort,
        "awaiting": chat.awaiting,
        "tool_policy": chat.tool_policy,
        "kernel": chat.kernel,
        "archived": chat.archived,
        "error": chat.error,
        "usage": usage,
        "message_count": chat.message_count,
        "created_at": chat.created_at.isoformat(),
        "updated_at": chat.updated_at.isoformat(),
    }


def workspace_json(ws: Workspace) -> dict[str, Any]:
    return {
        "id": ws.id,
        "name": ws.name,
        "kind": ws.kind,
        "path": ws.path,
        "status": ws.status,
        "template": ws.template,
        "parameters": ws.parameters,
        "build_log": ws.build_log,
        "created_at": ws.created_at.isoformat(),
    }
