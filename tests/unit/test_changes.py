"""The change log on real SQLite and PostgreSQL (migrated like the server's), and the file tools
recording what they write.

Revert reaches files through two callbacks; here they are a dict standing for the workspace,
so a test can tell exactly what was (and was not) written.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from coder_agents_jupyter.db.changes import MAX_KEPT, ChangeConflict, ChangeLog, side
from coder_agents_jupyter.db.engine import connect
from coder_agents_jupyter.db.models import FileChange
from coder_agents_jupyter.errors import NotFound
from coder_agents_jupyter.tools.base import ToolContext, invoke_tool
from coder_agents_jupyter.tools.workspace_tools import WORKSPACE_TOOLS
from coder_agents_jupyter.workspaces.base import Workspace

WS = "ws-1"
TOOLS = {t.name: t for t in WORKSPACE_TOOLS}


@pytest_asyncio.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if request.param == "postgres":
        url = str(request.getfixturevalue("postgres_url"))
    else:
        url = f"sqlite:///{tmp_path / 'chats.db'}"
    engine = await connect(url)
    yield engine
    await engine.dispose()


@pytest.fixture
def log(engine: AsyncEngine) -> ChangeLog:
    return ChangeLog(engine)


class Files:
    """A workspace as the revert callbacks see it, counting writes."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = dict(files)
        self.writes: list[tuple[str, bytes | None]] = []

    async def read_current(self, ws_id: str | None, path: str) -> str | None:
        assert ws_id == WS
        data = self.files.get(path)
        return None if data is None else hashlib.sha256(data).hexdigest()

    async def write(self, ws_id: str | None, path: str, content: bytes | None) -> None:
        assert ws_id == WS
        self.writes.append((path, content))
        if content is None:
            self.files.pop(path, None)
        else:
            self.files[path] = content


async def rows(engine: AsyncEngine) -> list[FileChange]:
    async with engine.connect() as conn:
        result = await conn.execute(select(FileChange).order_by(FileChange.seq))
        return list(result.all())  # type: ignore[arg-type]


# ----- record and diff -----


@pytest.mark.asyncio
async def test_diff_shows_added_modified_and_deleted_files(log: ChangeLog) -> None:
    # Given a chat that created one file, edited another twice and removed a third
    await log.record("c1", "c1", WS, "new.py", None, b"print('hi')\n")
    await log.record("c1", "c1", WS, "app.py", b"a = 1\nb = 2\n", b"a = 1\nb = 3\n")
    await log.record("c1", "c1", WS, "app.py", b"a = 1\nb = 3\n", b"a = 10\nb = 3\n")
    await log.record("c1", "c1", WS, "old.txt", b"bye\n", None)
    # When its diff is asked for
    diffs = {d.path: d for d in await log.diff(["c1"])}
    # Then each file shows its net change, in path order, with git-style headers
    assert [d.path for d in await log.diff(["c1"])] == ["app.py", "new.py", "old.txt"]
    assert {p: d.status for p, d in diffs.items()} == {
        "new.py": "added",
        "app.py": "modified",
        "old.txt": "deleted",
    }
    assert diffs["new.py"].diff == "--- /dev/null\n+++ b/new.py\n@@ -0,0 +1 @@\n+print('hi')\n"
    assert diffs["app.py"].diff == (
        "--- a/app.py\n+++ b/app.py\n@@ -1,2 +1,2 @@\n-a = 1\n-b = 2\n+a = 10\n+b = 3\n"
    )
    assert (diffs["app.py"].additions, diffs["app.py"].deletions) == (2, 2)
    assert diffs["old.txt"].diff == "--- a/old.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n"
    assert not any(d.binary for d in diffs.values())
    assert diffs["app.py"].json()["workspace_id"] == WS


@pytest.mark.asyncio
async def test_diff_applies_with_patch_including_missing_final_newline(
    log: ChangeLog, tmp_path: Path
) -> None:
    before = "line 1\nline 2\nno newline"
    after = "line 1\nline two\nstill no newline"
    await log.record("c1", "c1", WS, "sub/f.txt", before.encode(), after.encode())
    await log.record("c1", "c1", WS, "g.txt", None, b"fresh")
    patch = "".join(d.diff for d in await log.diff(["c1"]))
    assert "\\ No newline at end of file" in patch
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "f.txt").write_text(before)
    proc = await asyncio.create_subprocess_exec(
        "patch", "-p1", "-s", cwd=tree, stdin=asyncio.subprocess.PIPE
    )
    await proc.communicate(patch.encode())
    assert proc.returncode == 0
    assert (tree / "sub" / "f.txt").read_text() == after
    assert (tree / "g.txt").read_text() == "fresh"


@pytest.mark.asyncio
async def test_diff_spans_the_chat_tree_earliest_before_to_latest_after(log: ChangeLog) -> None:
    # Given a root chat and its sub-agent writing the same file in turn
    await log.record("root", "root", WS, "f.txt", b"v0\n", b"v1\n")
    await log.record("child", "root", WS, "f.txt", b"v1\n", b"v2\n")
    await log.record("root", "root", WS, "f.txt", b"v2\n", b"v3\n")
    await log.record("child", "root", WS, "only-child.txt", None, b"x\n")
    # Then the tree's diff goes from the first before to the last after
    tree = {d.path: d for d in await log.diff(["root", "child"])}
    assert "-v0\n+v3\n" in tree["f.txt"].diff
    assert set(tree) == {"f.txt", "only-child.txt"}
    # And the sub-agent's own diff covers only what it wrote
    child = {d.path: d for d in await log.diff(["child"])}
    assert "-v1\n+v2\n" in child["f.txt"].diff
    assert await log.diff([]) == []
    assert await log.diff(["nobody"]) == []


@pytest.mark.asyncio
async def test_files_that_end_as_they_started_are_left_out(log: ChangeLog) -> None:
    await log.record("c1", "c1", WS, "same.txt", b"a\n", b"b\n")
    await log.record("c1", "c1", WS, "same.txt", b"b\n", b"a\n")
    await log.record("c1", "c1", WS, "temp.txt", None, b"t\n")
    await log.record("c1", "c1", WS, "temp.txt", b"t\n", None)
    await log.record("c1", "c1", WS, "empty.txt", None, b"")
    diffs = await log.diff(["c1"])
    assert [(d.path, d.status) for d in diffs] == [("empty.txt", "added")]
    assert diffs[0].diff == "--- /dev/null\n+++ b/empty.txt\n"


@pytest.mark.asyncio
async def test_same_path_in_two_workspaces_is_two_files(log: ChangeLog) -> None:
    await log.record("c1", "c1", "ws-a", "f.txt", None, b"a\n")
    await log.record("c1", "c1", "ws-b", "f.txt", b"old\n", b"b\n")
    diffs = await log.diff(["c1"])
    assert [(d.workspace_id, d.status) for d in diffs] == [("ws-a", "added"), ("ws-b", "modified")]


# ----- bounds -----


def test_sides_keep_small_text_only() -> None:
    text = side(b"hello\n")
    assert (text.exists, text.text, text.size) == (True, "hello\n", 6)
    assert text.sha256 == hashlib.sha256(b"hello\n").hexdigest()
    assert side(None).exists is False and side(None).kept
    for unkept in (b"\x00\x01binary", b"caf\xe9", b"x" * (MAX_KEPT + 1)):
        s = side(unkept)
        assert s.exists and s.text is None and not s.kept
        assert s.size == len(unkept) and s.sha256 == hashlib.sha256(unkept).hexdigest()
    assert side(b"x" * MAX_KEPT).kept
    unread = side(50_000_000)
    assert (unread.exists, unread.size, unread.sha256, unread.kept) == (
        True,
        50_000_000,
        None,
        False,
    )


@pytest.mark.asyncio
async def test_large_and_binary_files_are_noted_not_stored(
    log: ChangeLog, engine: AsyncEngine
) -> None:
    big = b"y\n" * (MAX_KEPT // 2 + 1)
    await log.record("c1", "c1", WS, "big.txt", b"small\n", big)
    await log.record("c1", "c1", WS, "img.png", b"\x89PNG\r\n\x1a\n\x00\x00", b"text now\n")
    await log.record("c1", "c1", WS, "huge.csv", 300_000_000, b"a,b\n")
    stored = {r.path: r for r in await rows(engine)}
    assert stored["big.txt"].after is None and stored["big.txt"].before == "small\n"
    assert stored["big.txt"].after_size == len(big) and stored["big.txt"].binary_or_large
    assert stored["big.txt"].after_sha256 == hashlib.sha256(big).hexdigest()
    assert stored["img.png"].before is None and stored["img.png"].before_exists
    assert stored["img.png"].after == "text now\n"
    assert stored["huge.csv"].before_size == 300_000_000
    assert stored["huge.csv"].before_sha256 is None
    diffs = {d.path: d for d in await log.diff(["c1"])}
    assert all(d.binary and d.status == "modified" for d in diffs.values())
    assert diffs["big.txt"].diff == (
        "Binary or large files a/big.txt and b/big.txt differ (6 bytes -> 512.0 KB; "
        "content not kept)\n"
    )
    assert "286.1 MB -> 4 bytes" in diffs["huge.csv"].diff
    assert diffs["huge.csv"].before_size == 300_000_000 and diffs["huge.csv"].after_size == 4


@pytest.mark.asyncio
async def test_concurrent_records_all_land_in_order(log: ChangeLog, engine: AsyncEngine) -> None:
    await asyncio.gather(*(log.record("c1", "c1", WS, f"f{i}.txt", None, b"x") for i in range(20)))
    await log.record("c2", "c2", WS, "other.txt", None, b"x")
    got = await rows(engine)
    assert len(got) == 21
    assert sorted(r.seq for r in got if r.root_id == "c1") == list(range(1, 21))
    assert [r.seq for r in got if r.root_id == "c2"] == [1]


# ----- revert -----


@pytest.mark.asyncio
async def test_revert_restores_modified_and_removes_added_files(log: ChangeLog) -> None:
    # Given a chat that edited app.py and created new.py, and the workspace as it left them
    await log.record("c1", "c1", WS, "app.py", b"v1\n", b"v2\n")
    await log.record("c1", "c1", WS, "new.py", None, b"n\n")
    ws = Files({"app.py": b"v2\n", "new.py": b"n\n", "other": b"o"})
    # When both are reverted
    reverted = await log.revert(["c1"], ["app.py", "new.py"], ws.read_current, ws.write)
    # Then they are as before the chat, and the diff is empty
    assert reverted == ["app.py", "new.py"]
    assert ws.files == {"app.py": b"v1\n", "other": b"o"}
    assert await log.diff(["c1"]) == []
    # And the revert is itself in the log (under the chat), so a second revert is a no-op
    again = await log.revert(["c1"], ["app.py", "new.py"], ws.read_current, ws.write)
    assert again == ["app.py", "new.py"] and len(ws.writes) == 2


@pytest.mark.asyncio
async def test_a_changed_file_conflicts_and_nothing_is_written(
    log: ChangeLog, engine: AsyncEngine
) -> None:
    # Given two files the chat wrote, one of which the user edited afterwards
    await log.record("c1", "c1", WS, "a.txt", b"a0\n", b"a1\n")
    await log.record("c1", "c1", WS, "b.txt", b"b0\n", b"b1\n")
    ws = Files({"a.txt": b"a1\n", "b.txt": b"user's own\n"})
    before = len(await rows(engine))
    # When both are to be reverted
    with pytest.raises(ChangeConflict) as caught:
        await log.revert(["c1"], ["a.txt", "b.txt"], ws.read_current, ws.write)
    # Then the conflict names the changed file, and neither file was touched nor logged
    assert caught.value.paths == ["b.txt"] and caught.value.status == 409
    assert "b.txt changed since the agent last wrote it" in caught.value.message
    assert ws.writes == [] and ws.files == {"a.txt": b"a1\n", "b.txt": b"user's own\n"}
    assert len(await rows(engine)) == before
    # And a file deleted since counts as changed too
    ws.files.pop("b.txt")
    with pytest.raises(ChangeConflict):
        await log.revert(["c1"], ["b.txt"], ws.read_current, ws.write)
    # While the untouched one alone reverts fine
    assert await log.revert(["c1"], ["a.txt"], ws.read_current, ws.write) == ["a.txt"]
    assert ws.files["a.txt"] == b"a0\n"


@pytest.mark.asyncio
async def test_revert_after_delete_and_recreate_outside_the_tools(log: ChangeLog) -> None:
    # Given a file written, removed by a command (not logged), then written again
    await log.record("c1", "c1", WS, "d.txt", None, b"first\n")
    await log.record("c1", "c1", WS, "d.txt", None, b"second\n")
    ws = Files({"d.txt": b"second\n"})
    [diff] = await log.diff(["c1"])
    assert diff.status == "added" and "+second" in diff.diff and "first" not in diff.diff
    assert await log.revert(["c1"], ["d.txt"], ws.read_current, ws.write) == ["d.txt"]
    assert ws.files == {}


@pytest.mark.asyncio
async def test_revert_refuses_unknown_paths_and_unkept_content(log: ChangeLog) -> None:
    await log.record("c1", "c1", WS, "img.bin", b"\x00\x01", b"text\n")
    await log.record("c1", "c1", WS, "ok.txt", b"0\n", b"1\n")
    ws = Files({"img.bin": b"text\n", "ok.txt": b"1\n"})
    with pytest.raises(NotFound, match="nope.txt"):
        await log.revert(["c1"], ["ok.txt", "nope.txt"], ws.read_current, ws.write)
    with pytest.raises(NotFound):  # another chat's file is not this chat's to revert
        await log.revert(["c2"], ["ok.txt"], ws.read_current, ws.write)
    with pytest.raises(ChangeConflict, match="img.bin cannot be restored") as caught:
        await log.revert(["c1"], ["ok.txt", "img.bin"], ws.read_current, ws.write)
    assert caught.value.paths == ["img.bin"] and ws.writes == []


@pytest.mark.asyncio
async def test_revert_of_a_sub_agents_file_from_the_root(log: ChangeLog) -> None:
    await log.record("child", "root", WS, "c.txt", b"0\n", b"1\n")
    ws = Files({"c.txt": b"1\n"})
    assert await log.revert(["root", "child"], ["c.txt"], ws.read_current, ws.write) == ["c.txt"]
    assert ws.files == {"c.txt": b"0\n"}
    assert await log.diff(["root", "child"]) == []


@pytest.mark.asyncio
async def test_revert_can_pick_a_workspace(log: ChangeLog) -> None:
    await log.record("c1", "c1", "ws-a", "f.txt", b"a0\n", b"a1\n")
    await log.record("c1", "c1", WS, "f.txt", b"w0\n", b"w1\n")
    ws = Files({"f.txt": b"w1\n"})
    await log.revert(["c1"], ["f.txt"], ws.read_current, ws.write, workspace_id=WS)
    assert ws.files == {"f.txt": b"w0\n"}
    assert [d.workspace_id for d in await log.diff(["c1"])] == ["ws-a"]


# ----- the file tools record what they write -----


@pytest_asyncio.fixture
async def recorded(
    make_workspace: Callable[..., Workspace],
) -> AsyncIterator[tuple[ToolContext, list[tuple[str, bytes | int | None, bytes | None]]]]:
    ws = make_workspace()
    calls: list[tuple[str, bytes | int | None, bytes | None]] = []

    async def get_workspace() -> Workspace:
        return ws

    async def record(path: str, before: bytes | int | None, after: bytes | None) -> None:
        calls.append((path, before, after))

    async def save_attachment(name: str, media_type: str, data: bytes) -> str:
        return "att"

    ctx = ToolContext("chat-1", "alice", get_workspace, save_attachment, record_change=record)
    yield ctx, calls


@pytest.mark.asyncio
async def test_write_and_edit_record_before_and_after(recorded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ctx, calls = recorded
    (tmp_path / "old.txt").write_text("one\ntwo\n")
    (tmp_path / "blob.bin").write_bytes(b"\x00\xff" * 10)
    r = await invoke_tool(TOOLS, "write_file", {"path": "new.txt", "content": "hi\n"}, ctx)
    assert not r.is_error, r.content
    r = await invoke_tool(TOOLS, "write_file", {"path": "blob.bin", "content": "text\n"}, ctx)
    assert not r.is_error, r.content
    edits = [
        {"path": "old.txt", "old_text": "two", "new_text": "2"},
        {"path": "new.txt", "old_text": "hi", "new_text": "hello"},
    ]
    r = await invoke_tool(TOOLS, "edit_files", {"edits": edits}, ctx)
    assert not r.is_error, r.content
    root = str(tmp_path)
    assert calls == [
        (f"{root}/new.txt", None, b"hi\n"),
        (f"{root}/blob.bin", b"\x00\xff" * 10, b"text\n"),
        (f"{root}/old.txt", b"one\ntwo\n", b"one\n2\n"),
        (f"{root}/new.txt", b"hi\n", b"hello\n"),
    ]


@pytest.mark.asyncio
async def test_failed_edits_record_nothing(recorded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ctx, calls = recorded
    (tmp_path / "a.txt").write_text("a\n")
    edits = [
        {"path": "a.txt", "old_text": "a", "new_text": "b"},
        {"path": "a.txt", "old_text": "missing", "new_text": "c"},
    ]
    r = await invoke_tool(TOOLS, "edit_files", {"edits": edits}, ctx)
    assert r.is_error and calls == []


@pytest.mark.asyncio
async def test_a_large_file_overwritten_is_recorded_by_size(recorded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ctx, calls = recorded
    (tmp_path / "big.log").write_bytes(b"z" * (2 * 1024 * 1024))
    r = await invoke_tool(TOOLS, "write_file", {"path": "big.log", "content": "short\n"}, ctx)
    assert not r.is_error
    assert calls == [(f"{tmp_path}/big.log", 2 * 1024 * 1024, b"short\n")]


@pytest.mark.asyncio
async def test_a_failing_log_does_not_fail_the_write(tmp_path: Path) -> None:
    from coder_agents_jupyter.workspaces.local import LocalWorkspace

    ws = LocalWorkspace(tmp_path)

    async def get_workspace() -> Workspace:
        return ws

    async def broken(path: str, before: bytes | int | None, after: bytes | None) -> None:
        raise RuntimeError("database is gone")

    async def save_attachment(name: str, media_type: str, data: bytes) -> str:
        return "att"

    ctx = ToolContext("c", "alice", get_workspace, save_attachment, record_change=broken)
    r = await invoke_tool(TOOLS, "write_file", {"path": "f.txt", "content": "x"}, ctx)
    await ws.aclose()
    assert not r.is_error
    assert "could not be recorded for review" in r.content
    assert (tmp_path / "f.txt").read_text() == "x"
