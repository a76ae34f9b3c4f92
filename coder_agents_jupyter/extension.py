"""The ``CoderAgents`` server extension: admin configuration, wiring, start and stop."""

from __future__ import annotations

import asyncio
import getpass
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Dict, List, Unicode, default

from . import local_servers
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

    def build_settings(self) -> Settings:
        providers: list[dict[str, Any]] = list(self.providers)
        models: list[dict[str, Any]] = list(self.models)
        if self.demo:
            from .testing.fake_provider import DEMO_SCRIPT, FakeLLM

            self._demo_llm = FakeLLM()
            self._demo_llm.script("default", [DEMO_SCRIPT])
            base = self._demo_llm.start()
            providers.append(
                {
                    "name": "demo",
                    "type": "openai-compatible",
                    "base_url": f"{base}/v1",
                    "api_key_optional": True,
                }
            )
            models = [{**m, "default": False} for m in models] + [DEMO_MODEL]
        settings = build_settings(
            providers=providers,
            models=models,
            system_prompt=self.system_prompt,
            admin_users=list(self.admin_users),
            limits=dict(self.limits),
        )
        if not settings.available_models():
            found_providers, found_models = local_servers.discover()
            if found_providers:
                settings = build_settings(
                    providers=providers + found_providers,
                    models=models + found_models,
                    system_prompt=self.system_prompt,
                    admin_users=list(self.admin_users),
                    limits=dict(self.limits),
                )
        return settings

    def initialize_settings(self) -> None:
        self._demo_llm: Any = None
        self.service: ChatService | None = None
        self._start_lock = asyncio.Lock()
        self.root_dir = str(Path(self.serverapp.root_dir).expanduser().resolve())
        try:
            self.settings_obj = self.build_settings()
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
        )
        self.worker = Worker(self.runtime)
        await self.worker.start()
        self.service = ChatService(self.runtime, self.worker, str(self.data_dir()))
        self.log.info(
            "coder-agents: %d models enabled, database %s",
            len(self.settings_obj.available_models()),
            self.engine.url.drivername,
        )

    async def stop_extension(self) -> None:
        if self.service is not None:
            await self.worker.stop()
            await self.runtime.aclose()
            await self.engine.dispose()
        if self._demo_llm is not None:
            self._demo_llm.stop()
