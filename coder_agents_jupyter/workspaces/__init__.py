"""Workspaces: where files live and commands run. Tools use only ``base.Workspace``."""

from __future__ import annotations

from .base import DirEntry, FileStat, PartialWriteError, SignalName, Workspace
from .local import LocalWorkspace
from .processes import ProcessInfo

__all__ = [
    "DirEntry",
    "FileStat",
    "LocalWorkspace",
    "PartialWriteError",
    "ProcessInfo",
    "SignalName",
    "Workspace",
]
