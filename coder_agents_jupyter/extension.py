"""The ``CoderAgents`` server extension: admin configuration, wiring, start and stop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import getpass
import os
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Dict, Float, List, Unicode, default
from traitlets.config import Config

from . import local_servers
from .agent.changes import ChangeService
from .agent.prompts import DEFAULT_SYSTEM_PROMPT
from .agent.runtime import Runtime
from .agent.service import ChatService
from .agent.worker import Worker
from .api.handlers import routes
from .db import Store, connect
from .errors import ConfigError
from .events import EventBus
from .llm.registry import make_provider
from .settings import SETUP_HINT, Settings, build_settings
from .workspaces.dialout import DialOutServer, DialOutSettings, dial_out_settings

POLICY = (
    "providers",
    "models",
    "system_prompt",
    "admin_users",
    "limits",
    "templates",
    "default_workspace",
    "tool_policy",
    "kernel_tools",
)
"""The traits an admin may change while the server runs (see ``reload_policy``)."""

DEMO_MODEL = {
    "id": "demo",
    "provider": "demo",
    "display_name": "Demo (scripted, no AI)",
    "context_window": 32_000,
    "supports_images": True,
    "default": True,
}


class CoderAgents(ExtensionApp):
    """A coding and research agent in Jupyter. Configure it as ``c.CoderAgents.*``."""

    name = "coder_agents_jupyter"

    db_url = Unicode(
        "",
        config=True,
        help="SQLAlchemy URL of the chat database. Default: a SQLite file "
        "'coder_agents/chats.db' in the Jupyter data dir. Teams sharing several servers use "
        "PostgreSQL, e.g. 'postgresql+asyncpg://user@db/agents'.",
    )
    providers = List(
        Dict(),
        config=True,
        help="LLM providers: [{'name', 'type', 'base_url'?, 'headers'?, 'api_key_env'? or "
        "'api_key_file'?}]. type is one of anthropic, openai, openai-compatible, azure-openai, "
        "bedrock, gemini, openrouter, vercel. Empty: derived from ANTHROPIC_API_KEY / "
        "OPENAI_API_KEY, or a local Ollama/vLLM server.",
    )
    models = List(
        Dict(),
        config=True,
        help="The enabled models users may pick: [{'id', 'provider', 'context_window', "
        "'max_output_tokens'?, 'supports_images'?, 'compaction_threshold'? (0-1, default 0.7), "
        "'default'?}].",
    )
    system_prompt = Unicode(
        DEFAULT_SYSTEM_PROMPT,
        config=True,
        help="The system prompt of every chat. Users cannot override it.",
    )
    templates = List(
        Dict(), config=True, help="Workspace templates the agent may provision (see API.md)."
    )
    tool_policy = Dict(
        config=True,
        help="Per tool: 'auto' (runs), 'ask' (a person approves each call) or 'deny' (never "
        "offered), e.g. {'execute': 'ask'}. Users may tighten it per chat, never loosen it.",
    )
    kernel_tools = Bool(
        True,
        config=True,
        help="Whether users may let the agent inspect variables and run code in the live "
        "kernel of one of their open notebooks (opt-in per chat; run by their browser). "
        "False: the kernel tools are never offered.",
    )
    user_groups = Dict(
        config=True,
        help="Groups of users, for template visibility: {'alice': ['data-team']}. Added to "
        "the groups the identity provider reports (JupyterHub's).",
    )
    git_email = Unicode(
        "{username}@users.noreply.jupyter",
        config=True,
        help="The email of commits the agent makes for a user; {username} is replaced.",
    )
    default_workspace = Unicode(
        "root",
        config=True,
        help="Where a chat without a workspace works: 'root' (the Jupyter root folder) or "
        "'none' (the agent must create one from a template first).",
    )
    admin_users = List(Unicode(), config=True, help="Usernames that may read every chat (audit).")
    owner = Unicode(
        config=True,
        help="Owner of every chat when Jupyter's stock token/password identity is used "
        "(single-user servers). Default: the OS user running the server.",
    )
    limits = Dict(
        config=True,
        help="Limits: max_concurrent_chats (8), max_steps_per_turn (200), heartbeat_seconds "
        "(5), stale_after_seconds (30), max_upload_bytes (10 MB).",
    )
    config_poll_seconds = Float(
        2.0,
        config=True,
        help="How often to look for changes to the config files. Changes to providers, models, "
        "system_prompt, admin_users and limits apply at the next model step of every chat.",
    )
    dial_out = Dict(
        config=True,
        help="The SSH endpoint dial-out workspaces connect to (they need no inbound port): "
        "{'listen': '0.0.0.0:2222', 'public_host': 'cp.example.com', 'public_port'?: 2222, "
        "'host_key': '/etc/coder-agents/dialout_host_key' (created if missing), "
        "'authorized_keys': '/etc/coder-agents/workspace_keys' (the workspace keys allowed to "
        "join)}. Empty: off. Templates of provisioner type 'dial-out' need it.",
    )
    user_ssh_keys = Dict(
        config=True,
        help="Per user, private keys (files on this server) lent to their SSH workspaces "
        "through SSH agent forwarding while connected, never copied there: "
        "{'alice': '/etc/coder-agents/keys/alice'} (or a list of files). E.g. for git push.",
    )
    demo = Bool(
        False,
        config=True,
        help="Serve a clearly labelled scripted demo model (no AI, no key) so that anyone can "
        "try the product. For demos and evaluation only.",
    )

    @default("owner")
    def _default_owner(self) -> str:
        return getpass.getuser()

    def data_dir(self) -> Path:
        return Path(jupyter_data_dir()) / "coder_agents"

    def build_settings(self, values: dict[str, Any] | None = None) -> Settings:
        """Typed settings from the admin's values (default: the traits as loaded)."""
        v = values if values is not None else {name: getattr(self, name) for name in POLICY}
        providers: list[dict[str, Any]] = list(v["providers"])
        models: list[dict[str, Any]] = list(v["models"])
        if self.demo:
            providers.append(self._demo_provider())
            models = [{**m, "default": False} for m in models] + [DEMO_MODEL]
        common = {
            "system_prompt": v["system_prompt"],
            "admin_users": list(v["admin_users"]),
            "limits": dict(v["limits"]),
            "templates": list(v["templates"]),
            "default_workspace": v["default_workspace"],
            "tool_policy": dict(v["tool_policy"]),
            "kernel_tools": bool(v["kernel_tools"]),
        }
        settings = build_settings(providers=providers, models=models, **common)
        if not settings.available_models():
            found_providers, found_models = local_servers.discover()
            if found_providers:
                settings = build_settings(
                    providers=providers + found_providers, models=models + found_models, **common
                )
        return settings

    def _demo_provider(self) -> dict[str, Any]:
        if self._demo_llm is None:
            from .testing.fake_provider import DEMO_SCRIPT, FakeLLM

            self._demo_llm = FakeLLM(keep_requests=100)
            self._demo_llm.script("default", [DEMO_SCRIPT])
            self._demo_llm.start()
        base = self._demo_llm.openai_base_url
        return {
            "name": "demo",
            "type": "openai-compatible",
            "base_url": base,
            "api_key_optional": True,
        }

    # ----- policy changes apply at once -----

    def _config_files(self) -> list[Path]:
        app = self.serverapp
        names = ("jupyter_server_config.py", "jupyter_server_config.json")
        files = [Path(d) / n for d in app.config_file_paths for n in names]
        if app.config_file:
            files.append(Path(app.config_file))
        return files

    def _config_stamp(self) -> tuple[tuple[str, int], ...]:
        return tuple((str(f), f.stat().st_mtime_ns) for f in self._config_files() if f.is_file())

    def read_policy(self) -> dict[str, Any]:
        """The admin's policy values as the config files say now (command line still wins)."""
        app = self.serverapp
        config = Config()
        for loaded, _ in self._load_config_files(
            "jupyter_server_config",
            path=app.config_file_paths,
            log=self.log,
            raise_config_file_errors=True,
        ):
            config.merge(loaded)
        if app.config_file:
            folder, name = os.path.split(app.config_file)
            base = os.path.splitext(name)[0]  # the loader adds .py and .json itself
            for loaded, _ in self._load_config_files(
                base, path=folder or ".", log=self.log, raise_config_file_errors=True
            ):
                config.merge(loaded)
        config.merge(app.cli_config)
        section = config.get("CoderAgents", Config())
        return {
            name: section[name] if name in section else self.traits()[name].default()
            for name in POLICY
        }

    async def reload_policy(self) -> bool:
        """Re-read the config files and apply them from the next model step of every chat."""
        try:
            settings = self.build_settings(self.read_policy())
        except Exception as exc:  # a bad key, or a syntax error in jupyter_server_config.py
            self.log.error("coder-agents: configuration not reloaded: %s", exc)
            return False
        await self.runtime.replace_settings(settings)
        self.log.info(
            "coder-agents: configuration reloaded (%d models enabled)",
            len(settings.available_models()),
        )
        return True

    async def _watch_config(self) -> None:
        stamp = self._config_stamp()
        while True:
            await asyncio.sleep(self.config_poll_seconds)
            try:
                current = self._config_stamp()
                if current != stamp:
                    stamp = current
                    await self.reload_policy()
            except Exception:
                self.log.exception("coder-agents: watching the config files failed")

    def initialize_settings(self) -> None:
        self._demo_llm: Any = None
        self.service: ChatService | None = None
        self._start_lock = asyncio.Lock()
        self.root_dir = str(Path(self.serverapp.root_dir).expanduser().resolve())
        self.dial_out_server: DialOutServer | None = None
        try:
            self.settings_obj = self.build_settings()
            self.dial_out_settings: DialOutSettings | None = dial_out_settings(self.dial_out)
            self.ssh_keys = self._user_ssh_keys()
        except ConfigError as exc:
            self.log.critical("coder-agents: invalid configuration: %s", exc)
            raise SystemExit(1) from None
        for status in self.settings_obj.provider_status():
            if not status.available:
                self.log.warning(
                    "coder-agents: provider %s is unavailable: %s", status.name, status.reason
                )
        if not self.settings_obj.available_models():
            self.log.warning("coder-agents: %s", SETUP_HINT)
        elif self.demo:
            self.log.warning("coder-agents: DEMO MODE - the 'demo' model is scripted, not AI.")

    def _user_ssh_keys(self) -> dict[str, tuple[str, ...]]:
        keys: dict[str, tuple[str, ...]] = {}
        for user, value in self.user_ssh_keys.items():
            files = [value] if isinstance(value, str) else value
            if not isinstance(files, list | tuple) or not all(isinstance(f, str) for f in files):
                raise ConfigError("user_ssh_keys", f"{user}: give a key file or a list of them")
            for f in files:
                if not os.path.isfile(os.path.expanduser(f)):
                    self.log.warning("coder-agents: user_ssh_keys of %s: no file %s", user, f)
            keys[str(user)] = tuple(files)
        return keys

    async def _start_dial_out(self) -> None:
        if self.dial_out_settings is None:
            return
        server = DialOutServer.from_settings(self.dial_out_settings, self._workspace_left)
        try:
            await server.start()
        except (OSError, ValueError) as exc:  # port taken, unreadable host key
            self.log.error("coder-agents: the dial-out endpoint did not start: %s", exc)
            return
        self.dial_out_server = server
        self.runtime.dial_out = server

    async def _workspace_left(self, workspace_id: str) -> None:
        """A dial-out workspace's tunnel dropped: it is stopped until it joins again."""
        try:
            store = self.runtime.store
            record = await store.get_workspace(None, workspace_id, include_deleted=True)
            if record.status == "ready":
                await store.update_workspace(workspace_id, status="stopped")
            await self.runtime.forget_workspace(workspace_id)
        except Exception:
            self.log.exception("coder-agents: recording a dial-out disconnection failed")

    def initialize_handlers(self) -> None:
        self.handlers.extend(routes())

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        await super()._start_jupyter_server_extension(serverapp)
        await self.ensure_started()

    async def ensure_started(self) -> ChatService:
        """Connect the database and start the worker, once (also on the first request, for
        hosts such as pytest-jupyter that never call the start hook)."""
        if self.service is None:
            async with self._start_lock:
                if self.service is None:
                    await self._start()
        assert self.service is not None
        return self.service

    async def _start(self) -> None:
        url = self.db_url or f"sqlite:///{self.data_dir() / 'chats.db'}"
        self.engine = await connect(url)
        bus = EventBus()
        self.runtime = Runtime(
            store=Store(self.engine, bus),
            bus=bus,
            settings=self.settings_obj,
            provider_factory=make_provider,
            root_dir=self.root_dir,
            data_dir=str(self.data_dir()),
            user_ssh_keys=self.ssh_keys,
        )
        await self._start_dial_out()
        self.worker = Worker(self.runtime)
        await self.worker.start()
        self._watcher = asyncio.create_task(self._watch_config(), name="coder-agents-config")
        self.service = ChatService(self.runtime, self.worker)
        self.changes = ChangeService(self.runtime)
        # What start-up created (modules, schemas, the server itself) lives as long as the
        # process: out of the collector's sight, a full collection no longer walks it, which
        # was a tenth of an agent step's CPU.
        gc.freeze()
        self.log.info(
            "coder-agents: %d models enabled, database %s",
            len(self.settings_obj.available_models()),
            self.engine.url.drivername,
        )

    async def stop_extension(self) -> None:
        server = getattr(self, "dial_out_server", None)
        if server is not None:
            self.dial_out_server = None
            await server.stop()
        if self.service is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            await self.worker.stop()
            await self.runtime.aclose()
            self.runtime.store.close()
            await self.engine.dispose()
        if self._demo_llm is not None:
            self._demo_llm.stop()
