"""Where an SSH workspace lives and how to reach it: ``SSHTarget``, validated at the boundary.

A target is plain data (an admin's template or a provisioner's output); nothing here connects.
``hops`` flattens the jump hosts into the chain of connections to open, first hop first.
"""

from __future__ import annotations

import re
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_JUMP = re.compile(
    r"^(?:(?P<user>[^@\s]+)@)?(?P<host>\[[^\]\s]+\]|[^:@\s\[\]]+)(?::(?P<port>\d+))?$"
)


class SSHTarget(BaseModel):
    """One SSH host and the way to reach it.

    Host keys are checked against ``known_hosts`` (an OpenSSH known_hosts file; when unset,
    ``~/.ssh/known_hosts`` of the user running Jupyter). An unknown host is refused unless
    ``insecure_accept_new_host_key`` is set: then its first key is accepted, recorded in
    ``known_hosts`` (when set) and pinned for later connections; a *changed* key is always
    refused. ``jump_hosts`` are reached in order, each through the previous one
    (``user@host:port`` strings reuse this target's user, keys and known_hosts; a nested
    target brings its own). ``proxy_command`` is a command whose stdin/stdout reach the
    host instead of a TCP connection (``%h``, ``%p``, ``%r`` expand to host, port, user),
    e.g. ``["coder", "ssh", "--stdio", "my-workspace"]`` or ``["ssh", "-W", "%h:%p", "bastion"]``.
    ``agent_forward_keys`` are private keys (files on the Jupyter server) lent to commands
    on the host through SSH agent forwarding; they are never copied to the host.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(min_length=1)
    port: int = Field(22, ge=1, le=65535)
    user: str = Field(min_length=1)
    key_file: str | None = None
    certificate_file: str | None = None
    known_hosts: str | None = None
    insecure_accept_new_host_key: bool = False
    jump_hosts: tuple[str | SSHTarget, ...] = ()
    proxy_command: tuple[str, ...] | None = None
    workdir: str = "~"
    agent_forward_keys: tuple[str, ...] | None = None
    connect_timeout: float = Field(15, gt=0)
    keepalive_interval: float = Field(15, ge=0)

    @field_validator("jump_hosts")
    @classmethod
    def _check_jump_specs(cls, value: tuple[str | SSHTarget, ...]) -> tuple[str | SSHTarget, ...]:
        for spec in value:
            if isinstance(spec, str) and not _JUMP.match(spec.strip()):
                raise ValueError(f"jump host {spec!r} is not of the form user@host:port")
        return value

    @field_validator("proxy_command")
    @classmethod
    def _check_proxy(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and (not value or not value[0]):
            raise ValueError("proxy_command must name a program")
        return value

    @model_validator(mode="after")
    def _check_chain(self) -> Self:
        if self.jump_hosts and self.proxy_command:
            raise ValueError(
                "set either jump_hosts or proxy_command; to reach the first jump host "
                "through a proxy command, give that jump host as a target with its own "
                "proxy_command"
            )
        for hop in hops(self)[1:]:
            if hop.proxy_command:
                raise ValueError(
                    f"proxy_command of {hop.host} cannot be used: only the first hop of the "
                    "chain may be reached through a proxy command"
                )
        return self

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def _parse_jump(spec: str, parent: SSHTarget) -> SSHTarget:
    m = _JUMP.match(spec.strip())
    assert m is not None  # checked by the validator
    return SSHTarget(
        host=m["host"].strip("[]"),
        port=int(m["port"] or 22),
        user=m["user"] or parent.user,
        key_file=parent.key_file,
        certificate_file=parent.certificate_file,
        known_hosts=parent.known_hosts,
        insecure_accept_new_host_key=parent.insecure_accept_new_host_key,
        connect_timeout=parent.connect_timeout,
        keepalive_interval=parent.keepalive_interval,
    )


def hops(target: SSHTarget) -> list[SSHTarget]:
    """The connections to open to reach ``target``, in order; the last one is ``target``."""
    chain: list[SSHTarget] = []
    for spec in target.jump_hosts:
        chain += hops(spec if isinstance(spec, SSHTarget) else _parse_jump(spec, target))
    chain.append(target)
    return chain


def expand_proxy_command(target: SSHTarget) -> list[str]:
    """``proxy_command`` with OpenSSH's ``%h``/``%p``/``%r``/``%%`` tokens expanded."""
    tokens = {"h": target.host, "p": str(target.port), "r": target.user, "%": "%"}
    return [re.sub(r"%([hpr%])", lambda m: tokens[m[1]], arg) for arg in target.proxy_command or ()]
