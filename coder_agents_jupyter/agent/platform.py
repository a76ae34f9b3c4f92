"""A chat owner's platform: the templates they may see, and workspaces built for the chat.

Everything here acts as the chat's owner: a template they cannot see does not exist for them,
and a workspace is created in their name and bound to the chat at once, so people watching
see it (and its live build log) while it builds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from ..db.models import Workspace
from ..db.store import Caller, new_id
from ..errors import ToolError, WorkspaceError
from ..templates import Template, rank
from ..tools.platform_tools import Progress
from ..workspaces.provision import ProvisionError, join, open_workspace, provision, run_script
from .runtime import Runtime

LOG_TAIL = 3000
READY = ("provisioning", "ready")


def workspace_info(ws: Workspace) -> dict[str, Any]:
    return {
        "id": ws.id,
        "name": ws.name,
        "template": ws.template,
        "status": ws.status,
        "kind": ws.kind,
        "path": ws.path,
    }


async def new_workspace(
    rt: Runtime, owner: Caller, template: Template, parameters: dict[str, Any], name: str | None
) -> Workspace:
    """The record of a workspace about to be built (parameters checked, status provisioning)."""
    values = template.resolve(parameters)
    return await rt.store.create_workspace(
        owner,
        name or f"{template.name}-{new_id()[:8]}",
        "pending",
        "",
        status="provisioning",
        template=template.name,
        parameters=values,
    )


async def build_workspace(
    rt: Runtime, record: Workspace, template: Template, progress: Progress
) -> Workspace:
    """Provision ``record``; the build log is kept either way, and a failure says why."""
    lines: list[str] = []

    async def log(line: str) -> None:
        lines.append(line)
        # Kept as it grows: whoever watches the record sees it (a dial-out join command).
        await rt.store.update_workspace(record.id, build_log="\n".join(lines))
        await progress(line)

    try:
        built = await provision(
            template,
            record.parameters or {},
            owner=record.owner,
            workspace_id=record.id,
            data_dir=rt.data_dir,
            log=log,
            dial_out=rt.dial_out,
        )
    except WorkspaceError as exc:
        build_log = "\n".join(lines)
        await rt.store.update_workspace(record.id, status="failed", build_log=build_log)
        raise ProvisionError(
            f"Creating the workspace from {template.name} failed: {exc}\n"
            f"Build log (last lines):\n{build_log[-LOG_TAIL:]}"
        ) from None
    return await rt.store.update_workspace(
        record.id,
        kind=built.kind,
        path=built.path,
        config=built.config,
        status="ready",
        build_log="\n".join(lines),
    )


def visible_templates(templates: tuple[Template, ...], caller: Caller) -> list[Template]:
    return [t for t in templates if t.visible_to.allows(caller.name, caller.groups)]


class ChatPlatform:
    def __init__(
        self,
        rt: Runtime,
        chat_id: str,
        owner: str,
        owner_info: dict[str, Any],
        on_workspace_changed: Callable[[], Awaitable[None]],
    ) -> None:
        self.rt = rt
        self.chat_id = chat_id
        self.owner = Caller(name=owner, groups=frozenset(owner_info.get("groups", ())))
        self._changed = on_workspace_changed

    def _visible(self) -> list[Template]:
        return [
            t
            for t in self.rt.settings.templates
            if t.visible_to.allows(self.owner.name, self.owner.groups)
        ]

    async def templates(self, query: str | None) -> list[Template]:
        uses = Counter(
            w.template for w in await self.rt.store.list_workspaces(self.owner) if w.template
        )
        return rank(self._visible(), query, uses)

    def template(self, name: str) -> Template:
        found = next((t for t in self._visible() if t.name == name), None)
        if found is None:
            raise ToolError(
                f"There is no template named {name!r} that you may use: call "
                "list_templates to see the ones there are."
            )
        return found

    async def _current(self) -> Workspace | None:
        chat = await self.rt.store.load(self.chat_id)
        if chat.workspace_id is None:
            return None
        return await self.rt.store.get_workspace(None, chat.workspace_id, include_deleted=True)

    async def create_workspace(
        self, template: Template, name: str | None, parameters: dict[str, Any], progress: Progress
    ) -> dict[str, Any]:
        current = await self._current()
        if current is not None and current.template and current.status in READY:
            return {
                **workspace_info(current),
                "note": "This chat already has a workspace; it was not created again.",
            }
        record = await new_workspace(self.rt, self.owner, template, parameters, name)
        await self.rt.store.bind_workspace(self.chat_id, record.id, replace=True)
        await self._changed()
        return workspace_info(await build_workspace(self.rt, record, template, progress))

    async def start_workspace(self, progress: Progress) -> dict[str, Any]:
        current = await self._current()
        if current is None or current.status == "deleted":
            raise ToolError(
                "This chat has no workspace yet: call list_templates, then create_workspace."
            )
        template = next((t for t in self.rt.settings.templates if t.name == current.template), None)
        if template is not None and template.provisioner.type == "command":
            await run_script(
                template,
                "start",
                {"workspace_id": current.id, "username": self.owner.name},
                current.parameters or {},
                progress,
            )
        if template is not None and template.provisioner.type == "dial-out":
            values = {
                **(current.parameters or {}),
                "username": self.owner.name,
                "workspace_id": current.id,
            }
            await join(template, current.id, self.rt.dial_out, progress, values)  # new token
        if current.kind == "ssh":  # reachable now? (a clear error beats a later surprise)
            ws = open_workspace(
                current.kind, current.path, current.config, dial_out=self.rt.dial_out
            )
            try:
                await ws.connect()
            finally:
                await ws.aclose()
        record = await self.rt.store.update_workspace(current.id, status="ready")
        await self.rt.forget_workspace(current.id)
        await self._changed()
        return workspace_info(record)
