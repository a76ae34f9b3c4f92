"""Workspaces of every transport, so one test proves the same behaviour on each.

``make_workspace`` is parametrized: a test using it (or ``ws``) runs once on a local folder and
once over SSH against the real sshd of the session, whose files are this machine's files, so
the test can prepare and check them through ``tmp_path`` either way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path

import pytest
import pytest_asyncio

from coder_agents_jupyter.workspaces.base import Workspace
from coder_agents_jupyter.workspaces.local import LocalWorkspace
from coder_agents_jupyter.workspaces.ssh import SSHWorkspace

MakeWorkspace = Callable[..., Workspace]


@pytest.fixture(params=["local", pytest.param("ssh", marks=pytest.mark.ssh)])
def workspace_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest_asyncio.fixture
async def make_workspace(
    workspace_kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[MakeWorkspace]:
    """``make_workspace(root=tmp_path, env_remove=(), env_extra=None)``; closed at teardown."""
    made: list[Workspace] = []
    sshd = request.getfixturevalue("sshd") if workspace_kind == "ssh" else None

    def make(
        root: Path = tmp_path,
        env_remove: Iterable[str] = (),
        env_extra: Mapping[str, str] | None = None,
    ) -> Workspace:
        ws: Workspace
        if workspace_kind == "local":
            ws = LocalWorkspace(root, env_remove=env_remove, env_extra=env_extra)
        else:
            ws = SSHWorkspace(
                sshd.target(workdir=str(root)), env_remove=env_remove, env_extra=env_extra
            )
        made.append(ws)
        return ws

    yield make
    for ws in made:
        await ws.aclose()


@pytest_asyncio.fixture
async def ws(make_workspace: MakeWorkspace) -> Workspace:
    """A connected workspace on ``tmp_path``."""
    workspace = make_workspace()
    await workspace.connect()
    return workspace
