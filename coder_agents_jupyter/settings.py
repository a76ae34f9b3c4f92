"""Admin settings (``c.CoderAgents.*``) validated once into frozen typed objects.

The core never reads traitlets: ``extension.py`` hands the raw trait values to
``build_settings`` and everything below works with ``Settings``. A bad configuration raises
``ConfigError`` naming the key; a provider whose credentials are missing is kept, marked
unavailable with the reason, so the server still starts and can say what to fix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError
from .templates import Template

ProviderType = Literal[
    "anthropic",
    "openai",
    "openai-compatible",
    "azure-openai",
    "bedrock",
    "gemini",
    "openrouter",
    "vercel",
]

# The wire protocol each provider type speaks by default (``api`` may pick Chat Completions
# for the OpenAI types: older Azure api-versions and some gateways have no Responses API).
PROVIDER_PROTOCOL: dict[str, str] = {
    "anthropic": "anthropic",
    "bedrock": "bedrock",
    "openai": "openai-responses",
    "openai-compatible": "openai-chat",
    "azure-openai": "openai-responses",
    "gemini": "openai-chat",
    "openrouter": "openai-chat",
    "vercel": "openai-chat",
}

DEFAULT_BASE_URLS: dict[str, str] = {
    "gemini": "https://generativelanguage.googleapis.com/v1beta/openai/",
    "openrouter": "https://openrouter.ai/api/v1",
    "vercel": "https://ai-gateway.vercel.sh/v1",
}

DEFAULT_KEY_ENV: dict[str, str] = {
    "anthropic": "ANTHROPIC_API_KEY",
    "openai": "OPENAI_API_KEY",
    "azure-openai": "AZURE_OPENAI_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "vercel": "AI_GATEWAY_API_KEY",
    "bedrock": "AWS_BEARER_TOKEN_BEDROCK",
}

SETUP_HINT = (
    "No LLM provider is configured. Set ANTHROPIC_API_KEY or OPENAI_API_KEY in the environment "
    "of the Jupyter server, or add providers and models to jupyter_server_config.py, e.g. "
    'c.CoderAgents.providers = [{"name": "anthropic", "type": "anthropic", '
    '"api_key_env": "ANTHROPIC_API_KEY"}] and c.CoderAgents.models = [{"id": '
    '"claude-sonnet-4-5", "provider": "anthropic", "context_window": 200000, '
    '"default": True}]. A local OpenAI-compatible server (Ollama on port 11434, vLLM on 8000) '
    "is picked up automatically. To try the product without a key, start it with "
    "`python3 setup_jupyter.py run --demo`."
)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProviderSettings(_Frozen):
    name: str
    type: ProviderType
    base_url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    api_key_env: str | None = None
    api_key_file: str | None = None
    api_key_optional: bool = False  # local servers (Ollama, vLLM) take any key
    api: Literal["responses", "chat"] | None = None
    """OpenAI and Azure only: force the Responses or the Chat Completions API."""
    api_version: str | None = None
    """Azure only: a dated api-version for the classic deployment URLs; none (or "v1") for the
    v1 API at ``base_url`` = ``https://<resource>.openai.azure.com/openai/v1/``."""
    deployment: str | None = None
    """Azure classic only: the deployment, when it differs from the model id."""
    region: str | None = None
    """Bedrock only: the AWS region (default: AWS_REGION)."""

    @property
    def key_required(self) -> bool:
        """Without a key Bedrock signs with the AWS credential chain (env, profile, role)."""
        return not (self.api_key_optional or self.type == "bedrock")

    @property
    def protocol(self) -> str:
        if self.api == "chat" and self.type in ("openai", "azure-openai"):
            return "openai-chat"
        return PROVIDER_PROTOCOL[self.type]


EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
"""Reasoning effort levels, weakest first (one scale for every provider)."""

Effort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]

ToolPolicy = Literal["auto", "ask", "deny"]
POLICY_ORDER: dict[str, int] = {"auto": 0, "ask": 1, "deny": 2}


def stricter(a: str, b: str) -> str:
    return a if POLICY_ORDER[a] >= POLICY_ORDER[b] else b


class ReasoningSettings(_Frozen):
    """``reasoning_effort`` of a model: the default, and the most a user may ask for."""

    default: Effort | None = None
    max: Effort = "high"


class Prices(_Frozen):
    """US dollars per million tokens."""

    input: float = Field(default=0.0, ge=0)
    output: float = Field(default=0.0, ge=0)
    cache_read: float = Field(default=0.0, ge=0)
    cache_write: float = Field(default=0.0, ge=0)


class ModelSettings(_Frozen):
    id: str
    provider: str
    display_name: str | None = None
    model: str | None = None  # the vendor's model id, when it differs from ``id``
    context_window: int = Field(default=128_000, gt=0)
    max_output_tokens: int = Field(default=8192, gt=0)
    temperature: float | None = None
    supports_images: bool = True
    compaction_threshold: float = Field(default=0.7, gt=0, le=1)
    reasoning_effort: ReasoningSettings | None = None
    prices: Prices | None = None
    default: bool = False
    web_search: bool = False
    """Offer the provider's own web search to this model (Anthropic, OpenAI Responses)."""

    @property
    def vendor_model(self) -> str:
        return self.model or self.id

    def efforts(self) -> list[str]:
        """The reasoning efforts users may pick (empty: the model has no reasoning control)."""
        if self.reasoning_effort is None:
            return []
        return list(EFFORTS[: EFFORTS.index(self.reasoning_effort.max) + 1])

    def effort(self, requested: str | None) -> str | None:
        """The effort to send: the user's choice (already validated) or the admin default."""
        if self.reasoning_effort is None:
            return None
        return requested or self.reasoning_effort.default

    def cost_micros(self, usage: Mapping[str, int]) -> int:
        """What ``usage`` cost, in millionths of a dollar (0 when no prices are set)."""
        p = self.prices
        if p is None:
            return 0
        dollars_per_million = (
            usage.get("input_tokens", 0) * p.input
            + usage.get("output_tokens", 0) * p.output
            + usage.get("cache_read_tokens", 0) * p.cache_read
            + usage.get("cache_write_tokens", 0) * p.cache_write
        )
        return round(dollars_per_million)  # tokens x $/Mtok = micro-dollars


class ProviderStatus(_Frozen):
    """A provider as users see it: whether it can be called, and why not."""

    name: str
    type: str
    available: bool
    reason: str | None = None


class Limits(_Frozen):
    max_concurrent_chats: int = 8
    max_steps_per_turn: int = 200
    heartbeat_seconds: float = 5.0
    stale_after_seconds: float = 30.0
    max_upload_bytes: int = 10 * 1024 * 1024
    max_children_per_chat: int = Field(default=10, ge=0)
    max_concurrent_subagents: int = Field(default=10, ge=1)
    retry_max_attempts: int = Field(default=8, ge=1, le=50)
    retry_base_delay: float = Field(default=1.0, gt=0)
    retry_max_delay: float = Field(default=60.0, gt=0)
    stream_silence_seconds: float = Field(default=600.0, gt=0)


class Settings(_Frozen):
    providers: tuple[ProviderSettings, ...]
    models: tuple[ModelSettings, ...]
    system_prompt: str
    admin_users: frozenset[str]
    limits: Limits
    templates: tuple[Template, ...] = ()
    tool_policy: Mapping[str, ToolPolicy] = Field(default_factory=dict)
    """Per tool: ``auto`` (runs), ``ask`` (a person approves each call) or ``deny`` (never
    offered). Tools not listed are ``auto``; users may tighten this per chat."""
    default_workspace: Literal["root", "none"] = "root"
    """``root``: a chat without a workspace works in the Jupyter root folder; ``none``: it
    must get one from a template (the agent is told to call list_templates)."""
    kernel_tools: bool = True
    """Whether a chat may be given the user's live notebook kernel (``inspect_kernel``,
    ``run_in_kernel``, run by the user's browser) once its user consents."""
    secrets: Mapping[str, str] = Field(default_factory=dict, repr=False)
    """Resolved provider keys by provider name. Never serialised, logged or sent anywhere."""

    def provider_status(self) -> list[ProviderStatus]:
        out = []
        for p in self.providers:
            reason = None if p.name in self.secrets or not p.key_required else _missing_key(p)
            out.append(
                ProviderStatus(name=p.name, type=p.type, available=reason is None, reason=reason)
            )
        return out

    def available_models(self) -> list[ModelSettings]:
        ok = {s.name for s in self.provider_status() if s.available}
        return [m for m in self.models if m.provider in ok]

    def default_model(self) -> ModelSettings | None:
        models = self.available_models()
        return next((m for m in models if m.default), models[0] if models else None)

    def model(self, model_id: str) -> ModelSettings | None:
        return next((m for m in self.available_models() if m.id == model_id), None)

    def secret_env_names(self, environ: Mapping[str, str] | None = None) -> set[str]:
        """Environment variables holding provider keys - by name, and any variable whose value
        is a configured key - removed from every workspace command."""
        environ = os.environ if environ is None else environ
        names = {p.api_key_env for p in self.providers if p.api_key_env}
        values = set(self.secrets.values())
        names |= {name for name, value in environ.items() if value in values}
        return names | set(DEFAULT_KEY_ENV.values())


def _missing_key(p: ProviderSettings) -> str:
    if p.api_key_file:
        return f"the key file {p.api_key_file} cannot be read"
    env = p.api_key_env or DEFAULT_KEY_ENV.get(p.type)
    return f"the environment variable {env} is not set" if env else "no api_key_env configured"


def _read_key(p: ProviderSettings, environ: Mapping[str, str]) -> str | None:
    if p.api_key_file:
        try:
            return Path(p.api_key_file).expanduser().read_text().strip() or None
        except OSError:
            return None
    env = p.api_key_env or DEFAULT_KEY_ENV.get(p.type)
    return (environ.get(env) or None) if env else None


def _validate_list(key: str, items: Any, model: type[BaseModel]) -> list[Any]:
    if not isinstance(items, list | tuple):
        raise ConfigError(key, f"expected a list, got {type(items).__name__}")
    out = []
    for i, item in enumerate(items):
        try:
            out.append(model.model_validate(item))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ConfigError(f"{key}[{i}].{where}", err["msg"]) from None
    return out


def derived_providers(environ: Mapping[str, str]) -> list[dict[str, Any]]:
    """Providers implied by the environment when the admin configured none."""
    out: list[dict[str, Any]] = []
    if environ.get("ANTHROPIC_API_KEY"):
        out.append({"name": "anthropic", "type": "anthropic"})
    if environ.get("OPENAI_API_KEY"):
        out.append({"name": "openai", "type": "openai"})
    return out


DERIVED_MODELS: dict[str, list[dict[str, Any]]] = {
    "anthropic": [
        {
            "id": "claude-sonnet-4-5",
            "display_name": "Claude Sonnet 4.5",
            "context_window": 200_000,
            "max_output_tokens": 16_384,
        },
        {
            "id": "claude-haiku-4-5",
            "display_name": "Claude Haiku 4.5",
            "context_window": 200_000,
            "max_output_tokens": 16_384,
        },
    ],
    "openai": [
        {
            "id": "gpt-5",
            "display_name": "GPT-5",
            "context_window": 400_000,
            "max_output_tokens": 32_000,
        },
        {
            "id": "gpt-5-mini",
            "display_name": "GPT-5 mini",
            "context_window": 400_000,
            "max_output_tokens": 32_000,
        },
    ],
}


def build_settings(
    *,
    providers: list[dict[str, Any]],
    models: list[dict[str, Any]],
    system_prompt: str,
    admin_users: list[str],
    limits: dict[str, Any] | None = None,
    templates: list[dict[str, Any]] | None = None,
    default_workspace: str = "root",
    tool_policy: dict[str, str] | None = None,
    kernel_tools: bool = True,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Validate raw trait values. Raises ``ConfigError`` with the offending key."""
    environ = os.environ if environ is None else environ
    raw_providers = providers or derived_providers(environ)
    provs = _validate_list("providers", raw_providers, ProviderSettings)
    names = [p.name for p in provs]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError("providers", f"two providers are named {name!r}")
    if not models and not providers:
        models = [
            {**m, "provider": p.name, "default": i == 0 and j == 0}
            for i, p in enumerate(provs)
            for j, m in enumerate(DERIVED_MODELS.get(p.type, []))
        ]
    mods = _validate_list("models", models, ModelSettings)
    for i, m in enumerate(mods):
        if m.provider not in names:
            raise ConfigError(
                f"models[{i}].provider",
                f"names provider {m.provider!r}, which is not in c.CoderAgents.providers",
            )
    ids = [m.id for m in mods]
    for mid in ids:
        if ids.count(mid) > 1:
            raise ConfigError("models", f"two models have the id {mid!r}")
    defaults = [m.id for m in mods if m.default]
    if len(defaults) > 1:
        raise ConfigError("models", f"more than one default model: {', '.join(defaults)}")
    try:
        lim = Limits.model_validate(limits or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"limits.{'.'.join(map(str, err['loc']))}", err["msg"]) from None
    temps = _validate_list("templates", templates or [], Template)
    names = [tpl.name for tpl in temps]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError("templates", f"two templates are named {name!r}")
    for tool, choice in (tool_policy or {}).items():
        if choice not in POLICY_ORDER:
            raise ConfigError(f"tool_policy.{tool}", "must be 'auto', 'ask' or 'deny'")
    if default_workspace not in ("root", "none"):
        raise ConfigError("default_workspace", "must be 'root' or 'none'")
    secrets = {p.name: key for p in provs if (key := _read_key(p, environ))}
    return Settings(
        providers=tuple(provs),
        models=tuple(mods),
        system_prompt=system_prompt,
        admin_users=frozenset(admin_users),
        limits=lim,
        templates=tuple(temps),
        default_workspace=default_workspace,  # type: ignore[arg-type]
        tool_policy=dict(tool_policy or {}),
        kernel_tools=bool(kernel_tools),
        secrets=secrets,
    )
