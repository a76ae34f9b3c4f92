"""Workspaces against real files and real processes.

Tests taking ``ws`` or ``make_workspace`` (tests/unit/conftest.py) run on a local folder and
over SSH: the same assertions prove both transports behave alike.
"""

from __future__ import annotations

import asyncio
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from coder_agents_jupyter.errors import WorkspaceError
from coder_agents_jupyter.workspaces.base import Workspace
from coder_agents_jupyter.workspaces.local import (
    INLINE_WRITE_BYTES,
    LOCAL_FILESYSTEMS,
    LocalWorkspace,
    filesystem_type,
)
from coder_agents_jupyter.workspaces.processes import (
    HEAD_BYTES,
    TAIL_BYTES,
    OutputBuffer,
    ProcessNotFound,
    ProcessTable,
    build_env,
)


def pid_alive(pid: int) -> bool:
    """True while ``pid`` is a live process (zombies count as dead: nothing runs)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


async def wait_dead(pid: int, timeout: float = 5.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while pid_alive(pid):
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


# ----- paths and files -----


@pytest.mark.asyncio
async def test_resolve(ws: Workspace, tmp_path: Path) -> None:
    assert ws.root == str(tmp_path)
    assert ws.resolve("a/../b.txt") == str(tmp_path / "b.txt")
    assert ws.resolve("/etc/hosts") == "/etc/hosts"
    assert ws.resolve("~/x") == os.path.join(os.path.expanduser("~"), "x")
    assert ws.resolve("") == str(tmp_path)


def test_missing_root_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="does not exist"):
        LocalWorkspace(tmp_path / "nope")


@pytest.mark.asyncio
async def test_stat_read_and_list(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "f.txt").write_bytes(b"0123456789")
    os.chmod(tmp_path / "f.txt", 0o640)

    assert await ws.stat("missing") is None
    assert await ws.stat("f.txt/below") is None  # a file as a directory: just "not there"
    st = await ws.stat("f.txt")
    assert st is not None and st.is_file and not st.is_dir
    assert (st.size, st.mode, st.path) == (10, 0o640, str(tmp_path / "f.txt"))
    d = await ws.stat("d")
    assert d is not None and d.is_dir

    assert await ws.read_bytes("f.txt") == b"0123456789"
    assert await ws.read_bytes("f.txt", 4) == b"0123"
    assert await ws.read_bytes("f.txt", 4, offset=8) == b"89"
    for limit in (None, 4):
        with pytest.raises(WorkspaceError, match="does not exist"):
            await ws.read_bytes("missing", limit)
        with pytest.raises(WorkspaceError, match="is a directory"):
            await ws.read_bytes("d", limit)

    entries = await ws.list_dir(".")
    assert [(e.name, e.is_dir, e.size) for e in entries] == [
        ("d", True, None),
        ("f.txt", False, 10),
    ]


def test_filesystem_types_are_read_from_the_mount_table(tmp_path: Path) -> None:
    assert filesystem_type(str(tmp_path)) in LOCAL_FILESYSTEMS
    assert filesystem_type("/proc") == "proc"
    assert filesystem_type("/dev/shm") == "tmpfs"
    assert filesystem_type("/") is None  # other filesystems are mounted below it
    assert filesystem_type(str(tmp_path / "missing")) is None


@pytest.fixture
def handed_off(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the functions a local workspace hands to a worker thread, in order."""
    names: list[str] = []
    real_to_thread = asyncio.to_thread

    async def to_thread(fn: Callable[..., object], *args: object) -> object:
        names.append(fn.__name__)
        return await real_to_thread(fn, *args)

    monkeypatch.setattr("coder_agents_jupyter.workspaces.local.asyncio.to_thread", to_thread)
    return names


@pytest.mark.asyncio
async def test_stat_and_small_reads_run_in_place_inside_a_local_folder(
    tmp_path: Path, handed_off: list[str]
) -> None:
    (tmp_path / "f.txt").write_bytes(b"0123456789")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.txt"
    outside.write_bytes(b"x")
    ws = LocalWorkspace(tmp_path)
    assert (await ws.stat("f.txt")).size == 10  # type: ignore[union-attr]
    assert await ws.read_bytes("f.txt", 4, offset=2) == b"2345"
    assert handed_off == []
    assert await ws.read_bytes("f.txt") == b"0123456789"  # size unknown: a thread
    assert await ws.stat(str(outside)) is not None  # outside the folder: a thread
    assert handed_off == ["_read", "_stat"]
    outside.unlink()


@pytest.mark.asyncio
async def test_small_writes_to_a_memory_filesystem_run_in_place_and_behave_the_same(
    handed_off: list[str],
) -> None:
    with tempfile.TemporaryDirectory(dir="/dev/shm") as folder:
        root = Path(folder)
        ws = LocalWorkspace(root)
        (root / "run.sh").write_text("old")
        os.chmod(root / "run.sh", 0o751)
        (root / "real.txt").write_text("a")
        (root / "link.txt").symlink_to("real.txt")
        (root / "adir").mkdir()

        await ws.write_files_atomic({"run.sh": b"new", "deep/new.txt": b"hello"})
        await ws.write_files_atomic({"link.txt": b"b"})
        with pytest.raises(WorkspaceError, match="is a directory"):
            await ws.write_files_atomic({"run.sh": b"changed", "adir": b"x"})
        assert handed_off == []

        assert (root / "run.sh").read_bytes() == b"new"
        assert stat.S_IMODE((root / "run.sh").stat().st_mode) == 0o751
        assert (root / "deep" / "new.txt").read_bytes() == b"hello"
        assert (root / "link.txt").is_symlink() and (root / "real.txt").read_text() == "b"
        assert sorted(p.name for p in root.iterdir()) == [
            "adir",
            "deep",
            "link.txt",
            "real.txt",
            "run.sh",
        ]  # no temporary file left
        await ws.write_files_atomic({"big.bin": bytes(INLINE_WRITE_BYTES + 1)})
        assert handed_off == ["_write_atomic"]  # a large write still goes to a thread


@pytest.mark.asyncio
async def test_a_small_read_of_a_fifo_does_not_block_the_loop(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    ws = LocalWorkspace(tmp_path)
    read = asyncio.create_task(ws.read_bytes("pipe", 16))
    await asyncio.sleep(0.05)  # the loop runs while the read waits for a writer
    assert not read.done()

    def write() -> None:
        with open(tmp_path / "pipe", "wb") as f:
            f.write(b"hi")

    await asyncio.to_thread(write)
    assert await asyncio.wait_for(read, 5) == b"hi"


@pytest.mark.asyncio
async def test_write_creates_parents_and_keeps_mode(ws: Workspace, tmp_path: Path) -> None:
    script = tmp_path / "run.sh"
    script.write_text("old")
    os.chmod(script, 0o751)

    await ws.write_files_atomic({"run.sh": b"new", "deep/er/new.txt": b"hello"})

    assert script.read_bytes() == b"new"
    assert stat.S_IMODE(script.stat().st_mode) == 0o751
    new = tmp_path / "deep" / "er" / "new.txt"
    assert new.read_bytes() == b"hello"
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "run.sh"]  # no temp left


@pytest.mark.asyncio
async def test_write_through_symlink_keeps_the_link(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "real.txt").write_text("a")
    (tmp_path / "link.txt").symlink_to("real.txt")
    await ws.write_files_atomic({"link.txt": b"b"})
    assert (tmp_path / "link.txt").is_symlink()
    assert (tmp_path / "real.txt").read_text() == "b"


@pytest.mark.asyncio
async def test_failed_staging_changes_nothing(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "ok.txt").write_bytes(b"original")
    (tmp_path / "afile").write_bytes(b"I am a file")
    (tmp_path / "adir").mkdir()

    with pytest.raises(WorkspaceError, match="afile.*not a directory"):
        await ws.write_files_atomic({"ok.txt": b"changed", "afile/sub.txt": b"x"})
    with pytest.raises(WorkspaceError, match="is a directory"):
        await ws.write_files_atomic({"ok.txt": b"changed", "adir": b"x"})

    assert (tmp_path / "ok.txt").read_bytes() == b"original"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "afile", "ok.txt"]


@pytest.mark.asyncio
async def test_remove(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    (tmp_path / "empty").mkdir()
    await ws.remove("f")
    await ws.remove("empty")
    await ws.remove("never-existed")
    assert list(tmp_path.iterdir()) == []


# ----- processes -----


@pytest.mark.asyncio
async def test_process_exit_code_merged_output_and_workdir(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    pid = await ws.start_process("pwd; echo oops >&2; exit 3", workdir="sub")
    info = await ws.wait(pid, 10)
    assert not info.running
    assert info.exit_code == 3
    assert info.output == f"{tmp_path / 'sub'}\noops\n"
    assert info.workdir == str(tmp_path / "sub")
    assert info.ended_at is not None and info.duration_s >= 0

    with pytest.raises(WorkspaceError, match="does not exist"):
        await ws.start_process("true", workdir="nowhere")


@pytest.mark.asyncio
async def test_stdin_is_empty(ws: Workspace) -> None:
    # A command reading stdin must not hang waiting for a terminal.
    info = await ws.wait(await ws.start_process("cat; echo after"), 10)
    assert info.exit_code == 0
    assert info.output == "after\n"


@pytest.mark.asyncio
async def test_local_environment_is_non_interactive_and_has_no_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SSH counterpart (the host's environment instead of the server's) is in
    # test_workspace_ssh.py.
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-secret")
    monkeypatch.setenv("PROVIDER_CREDENTIAL", "listed-by-the-admin")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-secret")
    monkeypatch.setenv("MY_SECRET_VALUE", "s3")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws")
    monkeypatch.setenv("KEEP_ME", "kept")
    ws = LocalWorkspace(
        tmp_path,
        env_remove=["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "PROVIDER_CREDENTIAL"],
        env_extra={"EXTRA_SETTING": "on"},
    )
    try:
        info = await ws.wait(await ws.start_process("env"), 10)
    finally:
        await ws.aclose()
    env = dict(line.split("=", 1) for line in info.output.splitlines() if "=" in line)
    for name in (
        "ANTHROPIC_API_KEY",
        "OPENAI_API_KEY",
        "PROVIDER_CREDENTIAL",
        "GITHUB_TOKEN",
        "MY_SECRET_VALUE",
        "AWS_SECRET_ACCESS_KEY",
    ):
        assert name not in env
    for value in ("sk-ant-secret", "sk-openai-secret", "listed-by-the-admin", "ghp-secret"):
        assert value not in info.output
    assert env["KEEP_ME"] == "kept"
    assert env["EXTRA_SETTING"] == "on"
    for name, value in {
        "GIT_EDITOR": "true",
        "EDITOR": "true",
        "VISUAL": "true",
        "GIT_TERMINAL_PROMPT": "0",
        "PAGER": "cat",
        "NO_COLOR": "1",
        "TERM": "dumb",
        "CODER_AGENTS": "1",
    }.items():
        assert env[name] == value


def test_build_env_order() -> None:
    env = build_env(
        {"PATH": "/bin", "TERM": "xterm", "X_API_KEY": "k", "Drop": "1"},
        remove=["drop"],
        extra={"A": "extra", "B": "extra"},
        overrides={"B": "call"},
    )
    assert env["PATH"] == "/bin"
    assert env["TERM"] == "dumb"
    assert (env["A"], env["B"]) == ("extra", "call")
    assert "X_API_KEY" not in env and "Drop" not in env


@pytest.mark.asyncio
async def test_wait_timeout_leaves_it_running(ws: Workspace) -> None:
    pid = await ws.start_process("echo one; sleep 1; echo two")
    info = await ws.wait(pid, 0.3)
    assert info.running and info.exit_code is None
    assert info.output == "one\n"
    assert (await ws.wait(pid, 0)).running  # a snapshot does not wait
    info = await ws.wait(pid, 10)
    assert not info.running and info.exit_code == 0
    assert info.output == "one\ntwo\n"
    assert [p.id for p in await ws.list_processes()] == [pid]


@pytest.mark.asyncio
async def test_output_keeps_head_and_tail(ws: Workspace) -> None:
    pid = await ws.start_process("printf START; head -c 100000 /dev/zero | tr '\\0' x; printf END")
    info = await ws.wait(pid, 10)
    assert info.output_bytes == 100_008
    assert info.truncated
    assert info.omitted_bytes == 100_008 - HEAD_BYTES - TAIL_BYTES
    assert info.output.startswith("STARTxxx")
    assert info.output.endswith("xxxEND")
    assert f"{info.omitted_bytes} bytes of output omitted" in info.output


def test_output_buffer_cuts_multibyte_characters_cleanly() -> None:
    buf = OutputBuffer(head_limit=5, tail_limit=5)
    buf.write("ééé".encode())  # 6 bytes: the head cut splits the third é
    buf.write(b"-" * 10)
    buf.write("ééé".encode())  # the tail keeps 5 bytes: half an é, then é é
    text = buf.text()
    assert text.startswith("éé\n[...")
    assert text.endswith("...]\néé")
    assert "\ufffd" not in text
    assert buf.omitted_bytes == 22 - 10


def test_output_buffer_without_overflow_is_verbatim() -> None:
    buf = OutputBuffer(head_limit=4, tail_limit=4)
    for chunk in (b"ab", b"cdef", b"gh"):
        buf.write(chunk)
    assert buf.text() == "abcdefgh"
    assert buf.omitted_bytes == 0


@pytest.mark.asyncio
async def test_signal_reaches_the_whole_process_group(ws: Workspace) -> None:
    pid = await ws.start_process("sleep 60 & echo $!; wait")
    info = await ws.wait(pid, 0)
    for _ in range(100):
        if info.output:
            break
        await asyncio.sleep(0.05)
        info = await ws.wait(pid, 0)
    child = int(info.output.split()[0])
    assert pid_alive(child)

    await ws.signal(pid, "terminate")
    info = await ws.wait(pid, 5)
    assert not info.running
    assert info.exit_code != 0
    assert await wait_dead(child)
    assert info.pid is not None and await wait_dead(info.pid)


@pytest.mark.asyncio
async def test_kill_and_unknown_ids(ws: Workspace) -> None:
    pid = await ws.start_process("trap '' TERM; sleep 60")
    await ws.signal(pid, "kill")
    info = await ws.wait(pid, 5)
    assert info.exit_code == -9
    # Signalling a finished process is harmless.
    assert (await ws.signal(pid, "terminate")).exit_code == -9
    with pytest.raises(ProcessNotFound, match="process_list"):
        await ws.wait("p999", 0)
    with pytest.raises(WorkspaceError, match="Unknown signal"):
        await ws.signal(pid, "hangup")  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_exit_is_reported_while_a_background_child_holds_the_output(
    ws: Workspace,
) -> None:
    pid = await ws.start_process("(sleep 30 &); echo started")
    info = await ws.wait(pid, 10)
    assert not info.running
    assert info.exit_code == 0
    assert info.duration_s < 5
    assert info.output == "started\n"


@pytest.mark.asyncio
async def test_aclose_kills_everything_and_refuses_new_processes(
    make_workspace: Callable[..., Workspace],
) -> None:
    ws = make_workspace()
    first = await ws.start_process("sleep 60")
    second = await ws.start_process("(sleep 60 &); echo detached")
    await ws.wait(second, 5)
    pids = [(await ws.wait(p, 0)).pid for p in (first, second)]
    await ws.aclose()
    await ws.aclose()  # idempotent
    for pid in pids:
        assert pid is not None and await wait_dead(pid)
    assert not (await ws.wait(first, 0)).running
    with pytest.raises(WorkspaceError, match="closed"):
        await ws.start_process("true")


@pytest.mark.asyncio
async def test_process_table_limits() -> None:
    table = ProcessTable(max_running=2, keep_finished=1)
    a = table.create("a", "/", False)
    table.create("b", "/", False)
    with pytest.raises(WorkspaceError, match="already running"):
        table.create("c", "/", False)
    a.mark_exited(0)
    c = table.create("c", "/", False)
    c.mark_exited(1)
    # Only the newest finished record is kept once another is started.
    d = table.create("d", "/", True)
    assert [r.id for r in table.records()] == ["p2", "p3", d.id]
    assert table.get(" p3 ").exit_code == 1
