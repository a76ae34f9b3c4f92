"""The workspace tools, in the order they are offered to the model.

Files (``file_tools``): read_file, write_file, edit_files, attach_file. Processes
(``process_tools``): execute, process_output, process_list, process_signal. Notebooks
(``notebook_tools``): edit_notebook, run_notebook (read_file reads notebooks as cells). All
are written against ``workspaces.base.Workspace`` only, so they work unchanged on any
workspace transport.
"""

from __future__ import annotations

from .base import Tool
from .file_tools import AttachFile, EditFiles, ReadFile, WriteFile, sniff_media_type
from .notebook_tools import EditNotebook, RunNotebook
from .process_tools import Execute, ProcessList, ProcessOutput, ProcessSignal

WORKSPACE_TOOLS: list[Tool] = [
    ReadFile(),
    WriteFile(),
    EditFiles(),
    EditNotebook(),
    Execute(),
    ProcessOutput(),
    ProcessList(),
    ProcessSignal(),
    AttachFile(),
    RunNotebook(),
]


def workspace_tools() -> list[Tool]:
    """The workspace tools (stateless, so the instances are shared)."""
    return list(WORKSPACE_TOOLS)


__all__ = [
    "WORKSPACE_TOOLS",
    "AttachFile",
    "EditFiles",
    "EditNotebook",
    "Execute",
    "ProcessList",
    "ProcessOutput",
    "ProcessSignal",
    "ReadFile",
    "RunNotebook",
    "WriteFile",
    "sniff_media_type",
    "workspace_tools",
]
