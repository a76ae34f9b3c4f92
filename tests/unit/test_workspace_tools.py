"""The workspace tools through ``invoke_tool``, on real files with real processes.

The ``h`` harness is parametrized (tests/unit/conftest.py): every tool test runs on a local
folder and over SSH with the same assertions, so the tools are proven to behave alike.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from coder_agents_jupyter.tools.base import ToolContext, ToolResult, invoke_tool
from coder_agents_jupyter.tools.workspace_tools import WORKSPACE_TOOLS, workspace_tools
from coder_agents_jupyter.workspaces.base import Workspace

TOOLS = {t.name: t for t in WORKSPACE_TOOLS}


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


@dataclass
class Harness:
    ws: Workspace
    root: Path
    ctx: ToolContext
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)

    async def call(self, tool: str, /, **args: Any) -> ToolResult:
        return await invoke_tool(TOOLS, tool, args, self.ctx)


@pytest_asyncio.fixture
async def h(tmp_path: Path, make_workspace: Callable[..., Workspace]) -> AsyncIterator[Harness]:
    ws = make_workspace(env_remove=["ANTHROPIC_API_KEY", "OPENAI_API_KEY"])
    saved: list[tuple[str, str, bytes]] = []

    async def get_workspace() -> Workspace:
        return ws  # not connected yet: the first tool call connects it

    async def save_attachment(name: str, media_type: str, data: bytes) -> str:
        saved.append((name, media_type, data))
        return f"att-{len(saved)}"

    ctx = ToolContext(
        chat_id="chat-1",
        owner="alice",
        get_workspace=get_workspace,
        save_attachment=save_attachment,
    )
    yield Harness(ws, tmp_path, ctx, saved)


def test_tool_list_and_specs() -> None:
    names = [t.name for t in workspace_tools()]
    assert names == [
        "read_file",
        "write_file",
        "edit_files",
        "edit_notebook",
        "execute",
        "process_output",
        "process_list",
        "process_signal",
        "attach_file",
        "run_notebook",
    ]
    for tool in WORKSPACE_TOOLS:
        spec = tool.spec()
        assert spec.parameters["type"] == "object"
        assert "$ref" not in json.dumps(spec.parameters), tool.name
    props = {t.name: set(t.spec().parameters.get("properties", {})) for t in WORKSPACE_TOOLS}
    assert props["read_file"] == {"path", "offset", "limit"}
    assert props["write_file"] == {"path", "content"}
    assert props["edit_files"] == {"edits"}
    edit_item = TOOLS["edit_files"].spec().parameters["properties"]["edits"]["items"]
    assert set(edit_item["properties"]) == {"path", "old_text", "new_text", "replace_all"}
    assert props["execute"] == {"command", "workdir", "timeout_seconds", "run_in_background"}
    assert props["process_output"] == {"process_id", "wait_seconds"}
    assert props["process_list"] == set()
    assert props["process_signal"] == {"process_id", "signal"}
    assert props["attach_file"] == {"path", "name"}
    assert props["edit_notebook"] == {"path", "edits"}
    assert props["run_notebook"] == {
        "path",
        "timeout_seconds",
        "stop_on_error",
        "save_outputs",
        "kernel_name",
        "python",
    }


# ----- read_file -----


@pytest.mark.asyncio
async def test_read_file_pages_with_numbered_lines(h: Harness) -> None:
    (h.root / "f.txt").write_text("".join(f"line {i}\n" for i in range(1, 51)))

    r = await h.call("read_file", path="f.txt", offset=10, limit=5)
    assert not r.is_error
    lines = r.content.splitlines()
    assert "50 lines" in lines[0] and "lines 10-14" in lines[0]
    assert lines[1:6] == [f"   {i}\tline {i}" for i in range(10, 15)]
    assert "36 more lines; continue with offset=15" in lines[6]

    r = await h.call("read_file", path=str(h.root / "f.txt"))
    assert r.content.splitlines()[1] == "    1\tline 1"
    assert r.content.splitlines()[50] == "   50\tline 50"
    assert r.content.endswith("[End of file.]")


@pytest.mark.asyncio
async def test_read_file_last_line_without_newline_and_crlf(h: Harness) -> None:
    (h.root / "w.txt").write_bytes(b"a\r\nb\r\nc")
    r = await h.call("read_file", path="w.txt")
    assert "(3 lines" in r.content
    assert r.content.splitlines()[1:4] == ["    1\ta", "    2\tb", "    3\tc"]


@pytest.mark.asyncio
async def test_read_file_cuts_long_lines(h: Harness) -> None:
    (h.root / "long.txt").write_text("x" * 5000 + "\nshort\n")
    r = await h.call("read_file", path="long.txt")
    first = r.content.splitlines()[1]
    assert first.startswith("    1\t" + "x" * 2000 + " ... [line truncated at 2000 characters]")
    assert "x" * 2001 not in r.content
    assert "    2\tshort" in r.content


@pytest.mark.asyncio
async def test_read_file_errors_are_phrased_for_the_model(h: Harness) -> None:
    (h.root / "notes.txt").write_text("one\ntwo\n")
    (h.root / "blob.bin").write_bytes(b"\x00\x01\x02" * 100)
    (h.root / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    (h.root / "empty.txt").write_bytes(b"")

    r = await h.call("read_file", path="note.txt")
    assert r.is_error
    assert "does not exist" in r.content and "notes.txt" in r.content

    r = await h.call("read_file", path="missing/dir/x.txt")
    assert r.is_error and "does not exist either" in r.content

    r = await h.call("read_file", path="blob.bin")
    assert r.is_error and "binary file" in r.content and "300 bytes" in r.content
    r = await h.call("read_file", path="latin1.txt")
    assert r.is_error and "binary file" in r.content

    r = await h.call("read_file", path="notes.txt", offset=5)
    assert r.is_error
    assert "offset 5 is beyond the end" in r.content and "has 2 lines" in r.content

    r = await h.call("read_file", path="empty.txt")
    assert not r.is_error and "empty" in r.content

    r = await h.call("read_file", path="notes.txt", offset=0)
    assert r.is_error and "offset" in r.content


@pytest.mark.asyncio
async def test_read_file_on_a_directory_lists_it(h: Harness) -> None:
    (h.root / "src").mkdir()
    (h.root / "README.md").write_text("hi")
    for i in range(250):
        (h.root / "src" / f"m{i:03}.py").write_text("")
    r = await h.call("read_file", path=".")
    assert not r.is_error
    assert "is a directory" in r.content
    assert "README.md  (2 bytes)" in r.content and "\nsrc/\n" in r.content
    r = await h.call("read_file", path="src")
    assert "250 entries" in r.content and "50 more entries not shown" in r.content
    assert "m199.py" in r.content and "m200.py" not in r.content


@pytest.mark.asyncio
async def test_read_file_huge_file_needs_a_range(h: Harness) -> None:
    line = "y" * 99 + "\n"
    with open(h.root / "big.log", "w") as f:
        for _ in range(60_000):  # 6 MB
            f.write(line)
        f.write("last line\n")
    r = await h.call("read_file", path="big.log")
    assert r.is_error
    assert "too large" in r.content and "offset and limit" in r.content and "grep" in r.content

    r = await h.call("read_file", path="big.log", offset=59_999, limit=5)
    assert not r.is_error
    assert "59999\t" + "y" * 99 in r.content
    assert "60001\tlast line" in r.content
    assert r.content.endswith("[End of file.]")

    r = await h.call("read_file", path="big.log", offset=10, limit=2)
    assert "line count unknown" in r.content
    assert "continue with offset=12" in r.content


@pytest.mark.asyncio
async def test_read_file_result_is_bounded_and_says_where_to_continue(h: Harness) -> None:
    (h.root / "wide.txt").write_text("".join(f"{i:05} " + "z" * 90 + "\n" for i in range(2000)))
    h.ctx.result_budget = 4096
    r = await h.call("read_file", path="wide.txt")
    assert not r.is_error
    assert len(r.content.encode()) <= 4096
    assert "[... truncated" not in r.content  # a clean page end, not a hole in the middle
    last_shown = int(r.content.splitlines()[-2].split("\t")[0])
    assert f"continue with offset={last_shown + 1}" in r.content


# ----- write_file -----


@pytest.mark.asyncio
async def test_write_file_creates_parents(h: Harness) -> None:
    r = await h.call("write_file", path="a/b/c.txt", content="hello\nworld\n")
    assert not r.is_error
    assert r.content == f"Created {h.root / 'a/b/c.txt'} (12 bytes)."
    assert (h.root / "a/b/c.txt").read_text() == "hello\nworld\n"
    assert r.display is not None
    assert r.display["path"] == str(h.root / "a/b/c.txt")
    assert "+++ b/a/b/c.txt" in r.display["diff"] and "+world" in r.display["diff"]


@pytest.mark.asyncio
async def test_write_file_overwrites_keeping_mode(h: Harness) -> None:
    script = h.root / "run.sh"
    script.write_text("#!/bin/sh\necho old\n")
    os.chmod(script, 0o755)
    r = await h.call("write_file", path="run.sh", content="#!/bin/sh\necho new\n")
    assert not r.is_error
    assert "Overwrote" in r.content and "19 bytes" in r.content
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    assert r.display is not None
    assert "-echo old\n+echo new" in r.display["diff"]

    r = await h.call("write_file", path=".", content="x")
    assert r.is_error and "is a directory" in r.content


# ----- edit_files -----


@pytest.mark.asyncio
async def test_edit_files_applies_edits_in_order_with_diffs(h: Harness) -> None:
    (h.root / "m.py").write_text("a = 1\nb = 2\nc = 3\n")
    r = await h.call(
        "edit_files",
        edits=[
            {"path": "m.py", "old_text": "a = 1", "new_text": "a = 10"},
            {"path": "m.py", "old_text": "a = 10\nb = 2", "new_text": "a = 10\nb = 20"},
        ],
    )
    assert not r.is_error, r.content
    assert (h.root / "m.py").read_text() == "a = 10\nb = 20\nc = 3\n"
    assert "2 edits applied" in r.content
    assert "-a = 1\n-b = 2\n+a = 10\n+b = 20" in r.content
    assert r.display == {
        "files": [
            {"path": str(h.root / "m.py"), "diff": r.content.split("applied.\n", 1)[1] + "\n"}
        ]
    }


@pytest.mark.asyncio
async def test_edit_files_is_all_or_nothing(h: Harness) -> None:
    one, two = h.root / "one.py", h.root / "two.py"
    one.write_bytes(b"x = 1\r\ny = 2\n")
    two.write_bytes(b"def f():\n    pass\n")
    before = one.read_bytes(), two.read_bytes()
    r = await h.call(
        "edit_files",
        edits=[
            {"path": "one.py", "old_text": "x = 1", "new_text": "x = 100"},
            {"path": "two.py", "old_text": "def g():", "new_text": "def h():"},
        ],
    )
    assert r.is_error
    assert "Edit 2 of 2" in r.content and "not found" in r.content
    assert r.content.endswith("No edits were applied.")
    assert (one.read_bytes(), two.read_bytes()) == before
    assert sorted(p.name for p in h.root.iterdir()) == ["one.py", "two.py"]


@pytest.mark.asyncio
async def test_edit_files_ambiguous_match_names_the_lines(h: Harness) -> None:
    (h.root / "dup.py").write_text("x = 0\nprint(x)\ny = 1\nprint(x)\n")
    r = await h.call(
        "edit_files", edits=[{"path": "dup.py", "old_text": "print(x)", "new_text": "pass"}]
    )
    assert r.is_error
    assert "matches 2 places" in r.content and "lines 2, 4" in r.content
    assert "replace_all" in r.content

    r = await h.call(
        "edit_files",
        edits=[{"path": "dup.py", "old_text": "print(x)", "new_text": "pass", "replace_all": True}],
    )
    assert not r.is_error
    assert (h.root / "dup.py").read_text() == "x = 0\npass\ny = 1\npass\n"


@pytest.mark.asyncio
async def test_edit_files_tolerates_whitespace_and_reindents(h: Harness) -> None:
    path = h.root / "w.py"
    path.write_text("class A:\n    def f(self):  \n        return 1\n\n    x = 2\n")
    # Trailing whitespace of the file is not in old_text.
    r = await h.call(
        "edit_files",
        edits=[
            {
                "path": "w.py",
                "old_text": "    def f(self):\n        return 1",
                "new_text": "    def f(self):\n        return 2",
            }
        ],
    )
    assert not r.is_error, r.content
    assert path.read_text() == "class A:\n    def f(self):\n        return 2\n\n    x = 2\n"
    # old_text without the indentation (and with 2-space nesting): new_text is re-indented.
    r = await h.call(
        "edit_files",
        edits=[
            {
                "path": "w.py",
                "old_text": "def f(self):\n  return 2\n",
                "new_text": "def f(self):\n  if self:\n    return 3\n  return 2\n",
            }
        ],
    )
    assert not r.is_error, r.content
    assert path.read_text() == (
        "class A:\n    def f(self):\n        if self:\n"
        "            return 3\n        return 2\n\n    x = 2\n"
    )


@pytest.mark.asyncio
async def test_edit_files_not_found_shows_the_closest_lines(h: Harness) -> None:
    text = "".join(f"value_{i} = compute({i})\n" for i in range(1, 40))
    (h.root / "c.py").write_text(text)
    r = await h.call(
        "edit_files",
        edits=[
            {
                "path": "c.py",
                "old_text": "value_20 = compute(20)\nvalue_21 = compte(21)",
                "new_text": "gone",
            }
        ],
    )
    assert r.is_error
    assert "was not found" in r.content
    assert "Closest match, lines 20-21" in r.content
    assert "   21\tvalue_21 = compute(21)" in r.content
    assert (h.root / "c.py").read_text() == text


@pytest.mark.asyncio
async def test_edit_files_refusals(h: Harness) -> None:
    (h.root / "n.py").write_text("a\n")
    cases = [
        ({"path": "n.py", "old_text": "", "new_text": "b"}, "old_text is empty"),
        ({"path": "n.py", "old_text": "a", "new_text": "a"}, "identical"),
        ({"path": "new.py", "old_text": "a", "new_text": "b"}, "use write_file"),
        ({"path": "n.py", "old_text": "    1\ta", "new_text": "b"}, "line numbers"),
        ({"path": ".", "old_text": "a", "new_text": "b"}, "is a directory"),
    ]
    for edit, expected in cases:
        r = await h.call("edit_files", edits=[edit])
        assert r.is_error and expected in r.content, (edit, r.content)
        assert "No edits were applied." in r.content
    r = await h.call("edit_files", edits=[])
    assert r.is_error and "edits" in r.content
    assert (h.root / "n.py").read_text() == "a\n"


@pytest.mark.asyncio
async def test_edit_files_accepts_edits_as_a_json_string_and_keeps_crlf(h: Harness) -> None:
    (h.root / "win.txt").write_bytes(b"one\r\ntwo\r\nthree\r\n")
    edits = json.dumps([{"path": "win.txt", "old_text": "two\nthree", "new_text": "2\n3"}])
    r = await h.call("edit_files", edits=edits)
    assert not r.is_error, r.content
    assert (h.root / "win.txt").read_bytes() == b"one\r\n2\r\n3\r\n"

    r = await h.call("edit_files", edits="not json")
    assert r.is_error and "not valid JSON" in r.content


# ----- execute and processes -----


@pytest.mark.asyncio
async def test_execute_success_and_failure(h: Harness) -> None:
    (h.root / "sub").mkdir()
    r = await h.call("execute", command="echo hello; pwd", workdir="sub")
    assert not r.is_error
    assert r.content.startswith("Exit code: 0\nWall time: ")
    assert f"Output:\nhello\n{h.root / 'sub'}\n" in r.content
    assert r.display is not None
    assert r.display["exit_code"] == 0 and r.display["command"] == "echo hello; pwd"
    assert r.display["process_id"].startswith("p") and r.display["duration_ms"] >= 0

    r = await h.call("execute", command="echo to stderr >&2; exit 7")
    assert not r.is_error  # a failing command is a result, not a tool error
    assert "Exit code: 7" in r.content and "to stderr" in r.content
    assert r.display is not None and r.display["exit_code"] == 7

    r = await h.call("execute", command="true", workdir="nowhere")
    assert r.is_error and "does not exist" in r.content

    r = await h.call("execute", command="true", timeout_seconds=7200)
    assert r.is_error and "timeout_seconds" in r.content


@pytest.mark.asyncio
async def test_execute_timeout_keeps_running_then_process_output(h: Harness) -> None:
    r = await h.call("execute", command="echo first; sleep 1.5; echo second", timeout_seconds=0.5)
    assert not r.is_error
    assert r.display is not None
    pid = r.display["process_id"]
    assert f"still running after 0.5 s; it continues as process {pid}" in r.content
    assert "process_output" in r.content
    assert r.content.endswith("Output so far:\nfirst\n")
    assert r.display["exit_code"] is None

    r = await h.call("process_output", process_id=pid, wait_seconds=10)
    assert not r.is_error
    assert f"Process {pid}" in r.content and "exited with code 0" in r.content
    assert "first\nsecond\n" in r.content


@pytest.mark.asyncio
async def test_background_processes_list_and_signal(h: Harness) -> None:
    r = await h.call("execute", command="echo ready; sleep 60", run_in_background=True)
    assert not r.is_error and "in the background as process" in r.content
    assert r.display is not None
    bg = r.display["process_id"]

    r = await h.call("execute", command="sleep 61 &")  # a trailing & is tracked, not orphaned
    assert r.display is not None and "in the background" in r.content
    assert "trailing `&` was dropped" in r.content
    amp = r.display["process_id"]
    assert r.display["command"] == "sleep 61"

    await asyncio.sleep(0.2)
    r = await h.call("process_output", process_id=bg)
    assert "still running" in r.content and "ready" in r.content

    r = await h.call("process_list")
    assert f"{bg}: running" in r.content and "[background]: echo ready; sleep 60" in r.content
    assert f"{amp}: running" in r.content

    r = await h.call("process_signal", process_id=bg, signal="kill-it")
    assert r.is_error and "'terminate' or 'kill'" in r.content

    r = await h.call("process_signal", process_id=bg, signal="terminate")
    assert not r.is_error
    assert "Sent SIGTERM" in r.content and "killed by SIGTERM" in r.content
    r = await h.call("process_signal", process_id=int(amp[1:]), signal="SIGKILL")
    assert not r.is_error and "killed by SIGKILL" in r.content
    r = await h.call("process_signal", process_id=amp, signal="kill")
    assert "already exited" in r.content

    r = await h.call("process_output", process_id="p404")
    assert r.is_error and "process_list" in r.content


@pytest.mark.asyncio
async def test_execute_env_has_no_provider_keys(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-xyz")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-oai-xyz")
    r = await h.call("execute", command="env")
    assert "ANTHROPIC_API_KEY" not in r.content and "sk-ant-xyz" not in r.content
    assert "OPENAI_API_KEY" not in r.content and "sk-oai-xyz" not in r.content
    assert "CODER_AGENTS=1" in r.content and "GIT_TERMINAL_PROMPT=0" in r.content


@pytest.mark.asyncio
async def test_execute_output_is_bounded_with_a_note(h: Harness) -> None:
    r = await h.call(
        "execute", command="printf HEAD; head -c 200000 /dev/zero | tr '\\0' m; printf TAIL"
    )
    assert not r.is_error
    assert "Output:\nHEADmmm" in r.content
    assert "mmmTAIL\n[Output truncated:" in r.content
    assert "bytes omitted from the middle" in r.content
    assert len(r.content.encode()) < 34_000

    h.ctx.result_budget = 4096  # the chat's budget bounds it further
    r = await h.call("execute", command="seq 1 20000")
    assert len(r.content.encode()) <= 4096 + 200
    assert r.content.startswith("Exit code: 0") and "truncated" in r.content


@pytest.mark.asyncio
async def test_cancelling_execute_stops_the_process_group(h: Harness) -> None:
    marker = h.root / "child.pid"
    task = asyncio.create_task(
        h.call("execute", command=f"sleep 60 & echo $! > {marker}; wait", timeout_seconds=60)
    )
    for _ in range(200):
        if marker.exists() and marker.read_text().strip():
            break
        await asyncio.sleep(0.05)
    child = int(marker.read_text())
    [proc] = await h.ws.list_processes()
    assert proc.pid is not None and pid_alive(proc.pid) and pid_alive(child)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await wait_dead(child)
    assert await wait_dead(proc.pid)
    info = await h.ws.wait(proc.id, 5)
    assert not info.running and info.exit_code == -15


# ----- attach_file -----


@pytest.mark.asyncio
async def test_attach_file_saves_the_bytes(h: Harness) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    (h.root / "plots").mkdir()
    (h.root / "plots" / "fig").write_bytes(png)
    r = await h.call("attach_file", path="plots/fig", name="../figure.png")
    assert not r.is_error
    assert h.attachments == [("figure.png", "image/png", png)]
    assert "att-1" in r.content and "download" in r.content
    assert r.display == {
        "attachment_id": "att-1",
        "name": "figure.png",
        "media_type": "image/png",
        "size": len(png),
    }

    (h.root / "notes").write_text("plain text\n")
    r = await h.call("attach_file", path=str(h.root / "notes"))
    assert not r.is_error
    assert h.attachments[-1] == ("notes", "text/plain", b"plain text\n")


@pytest.mark.asyncio
async def test_attach_file_refusals(h: Harness) -> None:
    r = await h.call("attach_file", path="missing.pdf")
    assert r.is_error and "does not exist" in r.content
    r = await h.call("attach_file", path=".")
    assert r.is_error and "is a directory" in r.content and "tar" in r.content
    with open(h.root / "huge.bin", "wb") as f:
        f.truncate(10 * 1024 * 1024 + 1)
    r = await h.call("attach_file", path="huge.bin")
    assert r.is_error and "limited to 10.0 MB" in r.content
    assert h.attachments == []


@pytest.mark.asyncio
async def test_special_and_unreadable_files_read_well(h: Harness) -> None:
    os.mkfifo(h.root / "pipe")
    r = await h.call("read_file", path="pipe")
    assert r.is_error and "not a regular file" in r.content

    locked = h.root / "locked.txt"
    locked.write_text("x")
    os.chmod(locked, 0)
    try:
        r = await h.call("read_file", path="locked.txt")
        if os.geteuid() != 0:  # root reads anything
            assert r.is_error and "Permission denied" in r.content
    finally:
        os.chmod(locked, 0o644)
