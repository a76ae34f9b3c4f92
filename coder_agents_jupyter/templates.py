"""Workspace templates (``c.CoderAgents.templates``): what they are, who may use them, how
parameters are checked, and how the agent finds the right one.

A template names a provisioner: ``local`` (a new folder, optional init commands), ``ssh`` (an
existing host, or a pool of hosts), ``command`` (an admin script that creates, starts, stops
and deletes a machine and prints its SSH connection as JSON) or ``dial-out`` (a workspace that
connects to the control plane itself with a one-time join token; it needs no inbound port).
Provisioning lives in ``workspaces/provision.py``, the dial-out endpoint in
``workspaces/dialout.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .errors import ToolError


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Parameter(_Frozen):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    type: Literal["string", "number", "bool"] = "string"
    default: str | float | bool | None = None
    description: str = ""
    options: tuple[str | float, ...] = ()
    pattern: str | None = None
    """A regular expression a string value must match in full."""
    min: float | None = None
    max: float | None = None

    def check(self, value: Any) -> str | float | bool:
        """The value, converted and validated; ``ToolError`` phrased for the model."""
        where = f"parameter {self.name!r}"
        if self.type == "bool":
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "false"):
                return str(value).lower() == "true"
            raise ToolError(f"{where} must be true or false.")
        if self.type == "number":
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ToolError(f"{where} must be a number.") from None
            if (self.min is not None and number < self.min) or (
                self.max is not None and number > self.max
            ):
                raise ToolError(f"{where} must be between {self.min} and {self.max}.")
            value = number
        else:
            value = str(value)
            if self.pattern and not re.fullmatch(self.pattern, value):
                raise ToolError(f"{where} must match {self.pattern}.")
        if self.options and value not in self.options:
            choices = ", ".join(map(str, self.options))
            raise ToolError(f"{where} must be one of: {choices}.")
        return value


class Visibility(_Frozen):
    """Who may see and use a template; empty lists mean everyone."""

    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    def allows(self, user: str, groups: Iterable[str]) -> bool:
        if not self.users and not self.groups:
            return True
        return user in self.users or bool(set(groups) & set(self.groups))


class Provisioner(_Frozen):
    model_config = ConfigDict(extra="allow", frozen=True)

    type: Literal["local", "ssh", "command", "dial-out"]

    @model_validator(mode="after")
    def _required(self) -> Provisioner:
        extra = self.model_extra or {}
        if self.type == "ssh" and not (extra.get("host") or extra.get("hosts")):
            raise ValueError("an ssh provisioner needs host (or hosts, a pool)")
        if self.type == "command" and not extra.get("command"):
            raise ValueError("a command provisioner needs command (the admin script, argv)")
        if self.type == "dial-out":
            fixed = sorted({"host", "hosts", "port", "jump_hosts", "proxy_command"} & set(extra))
            if fixed:
                raise ValueError(
                    f"a dial-out provisioner cannot set {', '.join(fixed)}: the workspace "
                    "is reached through the tunnel it opens to the control plane"
                )
            if extra.get("known_hosts") and extra.get("insecure_accept_new_host_key"):
                raise ValueError(
                    "a dial-out provisioner takes known_hosts (entries for [127.0.0.1]:*, the "
                    "tunnel's port changes) or insecure_accept_new_host_key, not both"
                )
            timeout = extra.get("join_timeout", 600)
            if not isinstance(timeout, int | float) or timeout <= 0:
                raise ValueError("join_timeout must be a positive number of seconds")
        return self

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Template(_Frozen):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str
    provisioner: Provisioner
    parameters: tuple[Parameter, ...] = ()
    visible_to: Visibility = Visibility()

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "provisioner": self.provisioner.type,
        }

    def detail(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "parameters": [p.model_dump(exclude_none=True) for p in self.parameters],
        }

    def resolve(self, given: Mapping[str, Any] | None) -> dict[str, Any]:
        """Every parameter's value: given, else its default; unknown names are refused."""
        given = dict(given or {})
        known = {p.name: p for p in self.parameters}
        unknown = sorted(set(given) - set(known))
        if unknown:
            names = ", ".join(known) or "none"
            raise ToolError(
                f"Unknown parameter(s) {', '.join(unknown)} for template "
                f"{self.name}; its parameters are: {names}."
            )
        out: dict[str, Any] = {}
        for p in self.parameters:
            if p.name in given:
                out[p.name] = p.check(given[p.name])
            elif p.default is not None:
                out[p.name] = p.default
            else:
                raise ToolError(
                    f"Template {self.name} needs parameter {p.name!r}: "
                    f"{p.description or 'no description'}."
                )
        return out


def _normalise(text: str) -> str:
    return re.sub(r"[\s_-]+", " ", text.lower()).strip()


def rank(
    templates: Iterable[Template], query: str | None, uses: Mapping[str, int] | None = None
) -> list[Template]:
    """Best first: exact name, name prefix, name contains, description contains; then by how
    often the user used each template. Without a query, only by use."""
    uses = uses or {}
    q = _normalise(query or "")

    def tier(t: Template) -> int:
        if not q:
            return 1
        name = _normalise(t.name)
        if name == q:
            return 4
        if name.startswith(q):
            return 3
        if q in name:
            return 2
        return 1 if q in _normalise(t.description) else 0

    scored = [(tier(t), uses.get(t.name, 0), t) for t in templates]
    scored = [s for s in scored if s[0] > 0]
    scored.sort(key=lambda s: (-s[0], -s[1], s[2].name))
    return [t for _, _, t in scored]
