"""Everything a running chat depends on, gathered once by the extension (or a test/bench).

``Runtime`` is the seam between the agent core and its surroundings: the store, the event bus,
the admin settings (replaceable at run time), provider clients and workspaces. The core never
imports tornado or traitlets; anything that drives it builds a ``Runtime``.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..db.models import Chat
from ..db.store import Store
from ..errors import ProviderError, WorkspaceError
from ..events import EventBus
from ..llm.base import Provider
from ..llm.retry import RetryPolicy
from ..settings import ModelSettings, Settings
from ..tools.base import Tool
from ..tools.workspace_tools import workspace_tools
from ..workspaces.base import Workspace
from ..workspaces.provision import open_workspace

if TYPE_CHECKING:
    from ..workspaces.dialout import DialOutServer

ProviderFactory = Callable[[Settings, str], Provider]

NO_WORKSPACE = "This chat has no workspace yet: call list_templates, then create_workspace."
WORKSPACE_PROBLEMS = {
    "provisioning": "The workspace {name} is still being created; wait, then try again.",
    "failed": "The workspace {name} failed to build: call create_workspace again (read its "
    "build log with read_template first if the parameters were wrong), or ask the user.",
    "stopped": "The workspace {name} is stopped: call start_workspace, then retry.",
    "deleted": "The workspace {name} was deleted. Create a new one with list_templates and "
    "create_workspace, or ask the user which workspace to use.",
}


def git_identity(owner: str, info: dict[str, Any]) -> dict[str, str]:
    """Commits the agent makes are the user's, never a bot's."""
    name = info.get("display_name") or owner
    email = info.get("email") or f"{owner}@users.noreply.jupyter"
    return {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }


@dataclass
class Runtime:
    store: Store
    bus: EventBus
    settings: Settings
    provider_factory: ProviderFactory
    root_dir: str
    """The Jupyter server's root folder: the default workspace of every chat."""
    data_dir: str = ""
    """Where scratch and template workspaces are created by default."""
    tools: list[Tool] = field(default_factory=workspace_tools)
    stop_local: Callable[[str], bool] = field(default=lambda chat_id: False)
    """Stop a chat's run at once if this process runs it (the worker sets this)."""
    dial_out: DialOutServer | None = None
    """The endpoint dial-out workspaces connect to, when an admin enabled it."""
    user_ssh_keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Per user: private keys lent to their SSH workspaces through agent forwarding."""
    _providers: dict[str, Provider] = field(default_factory=dict)
    _workspaces: dict[str, Workspace] = field(default_factory=dict)
    _ws_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    # ----- models and providers -----

    def model_for(self, chat: Chat) -> ModelSettings:
        """The chat's model, or the default one when an admin removed it."""
        model = self.settings.model(chat.model) or self.settings.default_model()
        if model is None:
            raise ProviderError(
                "no model is available; " + "an admin must configure one",
                provider="coder-agents",
                kind="config",
            )
        return model

    def retry_policy(self) -> RetryPolicy:
        lim = self.settings.limits
        return RetryPolicy(
            max_attempts=lim.retry_max_attempts,
            base_delay=lim.retry_base_delay,
            max_delay=lim.retry_max_delay,
            silence_timeout=lim.stream_silence_seconds,
        )

    def provider(self, name: str) -> Provider:
        if name not in self._providers:
            self._providers[name] = self.provider_factory(self.settings, name)
        return self._providers[name]

    async def replace_settings(self, settings: Settings) -> None:
        """Apply new admin settings from the next model step on."""
        old, self._providers = self._providers, {}
        self.settings = settings
        for p in old.values():
            await p.aclose()

    # ----- workspaces -----

    async def workspace_for(self, chat_id: str) -> Workspace:
        """The chat's workspace, cached per workspace record; nothing connects until a tool
        uses it. Failures are phrased as the model's next action."""
        chat = await self.store.load(chat_id)
        async with self._ws_lock:
            if chat.workspace_id is None:
                if self.settings.default_workspace == "none":
                    raise WorkspaceError(NO_WORKSPACE)
                record = await self.store.default_workspace(chat.owner, self.root_dir)
                await self.store.bind_workspace(chat_id, record.id)
            else:
                record = await self.store.get_workspace(
                    None, chat.workspace_id, include_deleted=True
                )
            problem = WORKSPACE_PROBLEMS.get(record.status)
            if problem:
                raise WorkspaceError(problem.format(name=record.name))
            ws = self._workspaces.get(record.id)
            if ws is None:
                ws = open_workspace(
                    record.kind,
                    record.path,
                    record.config,
                    env_remove=self.settings.secret_env_names(),
                    env_extra=git_identity(chat.owner, chat.owner_info or {}),
                    agent_keys=self.user_ssh_keys.get(chat.owner, ()),
                    dial_out=self.dial_out,
                    name=record.name,
                )
                self._workspaces[record.id] = ws
            return ws

    async def forget_workspace(self, workspace_id: str) -> None:
        """Close a cached workspace (it was stopped, deleted or replaced)."""
        ws = self._workspaces.pop(workspace_id, None)
        if ws is not None:
            await ws.aclose()

    async def image_data(self, attachment_id: str) -> tuple[str, str] | None:
        """(media_type, base64) of a stored image, for a model request."""
        try:
            att = await self.store.get_attachment(None, attachment_id)
        except Exception:
            return None
        return att.media_type, base64.b64encode(att.data).decode("ascii")

    async def aclose(self) -> None:
        for ws in self._workspaces.values():
            await ws.aclose()
        for p in self._providers.values():
            await p.aclose()
        self._workspaces.clear()
        self._providers.clear()
