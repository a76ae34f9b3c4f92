"""Workspace context (AGENTS.md, skills) and the skill tools, on real files.

``make_workspace`` is parametrized (tests/unit/conftest.py): each test runs on a local folder and
over SSH, proving the discovery and the path checks work through the Workspace interface alone.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from coder_agents_jupyter.errors import WorkspaceError
from coder_agents_jupyter.tools.base import ToolContext, ToolResult, invoke_tool
from coder_agents_jupyter.tools.skill_tools import (
    CONTEXT_KEY,
    MAX_INSTRUCTION_BYTES,
    MAX_SKILL_FILE_BYTES,
    SKILL_TOOLS,
    WorkspaceContext,
    load_workspace_context,
    parse_front_matter,
    skill_tools,
    tools_for_context,
    workspace_context,
)
from coder_agents_jupyter.workspaces.base import Workspace

TOOLS = {t.name: t for t in SKILL_TOOLS}
SECRET = "TOP-SECRET-OUTSIDE-THE-SKILL"


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def skill(root: Path, folder: str, text: str) -> Path:
    return write(root / ".agents" / "skills" / folder / "SKILL.md", text)


@dataclass
class Harness:
    ws: Workspace
    root: Path
    ctx: ToolContext

    async def call(self, tool: str, /, **args: Any) -> ToolResult:
        return await invoke_tool(TOOLS, tool, args, self.ctx)


@pytest_asyncio.fixture
async def h(tmp_path: Path, make_workspace: Callable[..., Workspace]) -> AsyncIterator[Harness]:
    root = tmp_path / "ws"
    root.mkdir()
    ws = make_workspace(root)

    async def get_workspace() -> Workspace:
        return ws

    async def save_attachment(name: str, media_type: str, data: bytes) -> str:
        raise AssertionError("the skill tools attach nothing")

    ctx = ToolContext(
        chat_id="chat-1",
        owner="alice",
        get_workspace=get_workspace,
        save_attachment=save_attachment,
        result_budget=1024 * 1024,
    )
    yield Harness(ws, root, ctx)


# ----- front matter -----


def test_front_matter_variants() -> None:
    assert parse_front_matter("---\nname: a\ndescription: Does A.\n---\nBody\n") == (
        {"name": "a", "description": "Does A."},
        "Body",
    )
    fields, body = parse_front_matter(
        "\ufeff---\r\nname: \"quoted \\\"x\\\"\"\r\ndescription: 'it''s single'  # note\r\n"
        "---\r\n\r\nText\r\n"
    ) or ({}, "")
    assert fields == {"name": 'quoted "x"', "description": "it's single"}
    assert body.strip() == "Text"
    fields, _ = parse_front_matter(
        "---\n# a comment\nname: b\ndescription: >\n  Folded over\n  two lines.\n"
        "license: |\n  line 1\n  line 2\nmetadata:\n  author: me\nallowed-tools: [x, y]\n"
        "plain: starts here\n  and continues\n---\n"
    ) or ({}, "")
    assert fields["description"] == "Folded over two lines."
    assert fields["license"] == "line 1\nline 2"
    assert fields["plain"] == "starts here and continues"
    assert fields["name"] == "b"
    assert parse_front_matter("# No front matter\ntext") == ({}, "# No front matter\ntext")
    assert parse_front_matter("---\nname: never closed\n") is None


# ----- discovery and the prompt block -----


@pytest.mark.asyncio
async def test_nothing_in_the_workspace(h: Harness) -> None:
    context = await workspace_context(h.ws)
    assert context == WorkspaceContext(root=h.ws.root)
    assert context.instructions is None
    assert context.prompt_block() == ""
    assert tools_for_context(context) == []
    assert tools_for_context(None) == []


@pytest.mark.asyncio
async def test_discovery_and_index(h: Harness) -> None:
    skill(h.root, "pdf", "---\nname: pdf-report\ndescription: Build PDF reports.\n---\n# PDF\n")
    skill(h.root, "plain", "# Plain skill\n\nUse this to do plain things.\nMore text.\n")
    skill(h.root, "quoted", '---\ndescription: "Quoted: with a colon"\n---\nBody\n')
    skill(h.root, "folded", "---\nname: folded\ndescription: >-\n  Long\n  text.\n---\n")
    skill(h.root, "broken", "---\nname: broken\ndescription: never closed\n")
    skill(h.root, "pdf2", "---\nname: pdf-report\ndescription: Second of the name.\n---\n")
    skill(h.root, "badname", "---\nname: a/b\ndescription: Slash in the name.\n---\n")
    skill(h.root, ".hidden", "---\nname: hidden\ndescription: Not offered.\n---\n")
    skill(h.root, "long", "---\ndescription: " + "word " * 200 + "\n---\n")
    write(h.root / ".agents/skills/helpers/util.py", "print(1)\n")  # no SKILL.md: no skill
    write(h.root / ".agents/skills/README.md", "not a skill folder\n")

    context = await workspace_context(h.ws)
    by_name = {s.name: s for s in context.skills}
    assert sorted(by_name) == ["badname", "folded", "long", "pdf-report", "plain", "quoted"]
    assert by_name["pdf-report"].description == "Build PDF reports."
    assert by_name["pdf-report"].folder == "pdf"
    assert by_name["pdf-report"].path == os.path.join(h.ws.root, ".agents/skills/pdf")
    assert by_name["plain"].description == "Use this to do plain things."
    assert by_name["quoted"].description == "Quoted: with a colon"
    assert by_name["folded"].description == "Long text."
    assert by_name["badname"].description == "Slash in the name."
    assert len(by_name["long"].description) <= 300
    assert by_name["long"].description.endswith("...")
    notes = "\n".join(context.notes)
    assert "'broken' skipped" in notes and "never closed" in notes
    assert "'pdf2' skipped" in notes and "same name 'pdf-report'" in notes
    assert "'badname'" in notes and "not usable" in notes

    block = context.prompt_block()
    assert block.count("<available-skills>") == 1 and "</available-skills>" in block
    assert "- pdf-report: Build PDF reports." in block
    assert "- plain: Use this to do plain things." in block
    assert "call read_skill" in block
    assert "hidden" not in block.split("</available-skills>")[0]
    assert "'broken' skipped" in block  # the model can tell the user why it is missing
    assert [t.name for t in tools_for_context(context)] == ["read_skill", "read_skill_file"]
    assert [t.name for t in skill_tools()] == ["read_skill", "read_skill_file"]


@pytest.mark.asyncio
async def test_skill_folder_may_be_a_symlink(h: Harness, tmp_path: Path) -> None:
    shared = tmp_path / "shared-skill"
    write(shared / "SKILL.md", "---\nname: shared\ndescription: Linked in.\n---\nBody\n")
    write(shared / "ref.md", "reference\n")
    (h.root / ".agents/skills").mkdir(parents=True)
    os.symlink(shared, h.root / ".agents/skills/shared")
    context = await workspace_context(h.ws)
    assert [s.name for s in context.skills] == ["shared"]
    r = await h.call("read_skill_file", name="shared", path="ref.md")
    assert not r.is_error and r.content == "reference\n"


@pytest.mark.asyncio
async def test_agents_md_in_the_prompt(h: Harness) -> None:
    write(h.root / "AGENTS.md", "# Project rules\nRun `make test` before finishing.\n")
    write(h.root / "CLAUDE.md", "# Project rules\nRun `make test` before finishing.\n")  # same
    write(h.root / ".cursorrules", "Prefer tabs.\n")
    context = await workspace_context(h.ws)
    assert [f.name for f in context.instruction_files] == ["AGENTS.md", ".cursorrules"]
    assert context.instructions is not None
    assert "Run `make test` before finishing." in context.instructions
    block = context.prompt_block()
    assert "Instructions from AGENTS.md in the workspace" in block
    assert '<workspace-instructions file="AGENTS.md">' in block
    assert "Prefer tabs." in block
    assert "<available-skills>" not in block
    assert tools_for_context(context) == []


@pytest.mark.asyncio
async def test_agents_md_is_bounded(h: Harness) -> None:
    big = ("x" * 99 + "\n") * 1000 + "THE-END\n"
    write(h.root / "AGENTS.md", big)
    context = await workspace_context(h.ws)
    (f,) = context.instruction_files
    assert f.truncated and f.size == len(big)
    assert "THE-END" not in f.content
    assert len(f.content.encode()) < MAX_INSTRUCTION_BYTES + 500
    assert "only its first 64.0 KB are shown" in f.content
    assert "read_file" in f.content and f.path in f.content


@pytest.mark.asyncio
async def test_unreadable_instruction_files_become_notes(h: Harness) -> None:
    write(h.root / "AGENTS.md", b"\x00\x01binary")
    write(h.root / "CLAUDE.md", "   \n")  # empty: ignored
    context = await workspace_context(h.ws)
    assert context.instruction_files == ()
    assert any("AGENTS.md was not read" in n for n in context.notes)


# ----- read_skill -----


@pytest.mark.asyncio
async def test_read_skill(h: Harness) -> None:
    skill(h.root, "pdf", "---\nname: pdf-report\ndescription: Build PDFs.\n---\n\nStep 1.\n")
    write(h.root / ".agents/skills/pdf/scripts/build.py", "print('build')\n")
    write(h.root / ".agents/skills/pdf/reference.md", "ref\n")
    write(h.root / ".agents/skills/pdf/.env", "KEY=1\n")
    r = await h.call("read_skill", name="pdf-report")
    assert not r.is_error, r.content
    assert "Step 1." in r.content
    assert "description: Build PDFs." not in r.content  # the front matter is not repeated
    assert "- reference.md" in r.content and "- scripts/build.py" in r.content
    assert ".env" not in r.content and "- SKILL.md" not in r.content
    assert os.path.join(h.ws.root, ".agents/skills/pdf") in r.content
    # The folder's name works too, and a "workspace/" qualifier.
    assert not (await h.call("read_skill", name="pdf")).is_error
    assert not (await h.call("read_skill", name="workspace/pdf-report")).is_error


@pytest.mark.asyncio
async def test_unknown_skill(h: Harness) -> None:
    r = await h.call("read_skill", name="nope")
    assert r.is_error and "no skills" in r.content
    skill(h.root, "a", "---\ndescription: A.\n---\n")
    skill(h.root, "b", "---\ndescription: B.\n---\n")
    r = await h.call("read_skill", name="nope")
    assert r.is_error and "Unknown skill 'nope'. Available skills: a, b." in r.content
    r = await h.call("read_skill_file", name="nope", path="x.md")
    assert r.is_error and "Available skills: a, b." in r.content


@pytest.mark.asyncio
async def test_cached_context_is_used_and_new_skills_still_found(h: Harness) -> None:
    skill(h.root, "a", "---\ndescription: A.\n---\nBody A\n")
    h.ctx.extra[CONTEXT_KEY] = await workspace_context(h.ws)
    skill(h.root, "b", "---\ndescription: B.\n---\nBody B\n")  # added during the turn
    assert "Body A" in (await h.call("read_skill", name="a")).content
    assert "Body B" in (await h.call("read_skill", name="b")).content


# ----- read_skill_file -----


@pytest.mark.asyncio
async def test_read_skill_file(h: Harness) -> None:
    skill(h.root, "s", "---\ndescription: S.\n---\n")
    write(h.root / ".agents/skills/s/docs/guide.md", "# Guide\nline\n")
    r = await h.call("read_skill_file", name="s", path="docs/guide.md")
    assert not r.is_error and r.content == "# Guide\nline\n"
    r = await h.call("read_skill_file", name="s", path="./docs//guide.md")
    assert not r.is_error and r.content == "# Guide\nline\n"
    r = await h.call("read_skill_file", name="s", path="docs/gide.md")
    assert r.is_error and "does not exist" in r.content and "guide.md" in r.content
    r = await h.call("read_skill_file", name="s", path="docs")
    assert r.is_error and "is a folder" in r.content


@pytest.mark.asyncio
async def test_read_skill_file_is_bounded(h: Harness) -> None:
    skill(h.root, "s", "---\ndescription: S.\n---\n")
    big = "y" * (MAX_SKILL_FILE_BYTES + 1000) + "TAIL"
    write(h.root / ".agents/skills/s/big.txt", big)
    r = await h.call("read_skill_file", name="s", path="big.txt")
    assert not r.is_error
    assert "TAIL" not in r.content and "truncated" in r.content
    assert len(r.content) < MAX_SKILL_FILE_BYTES + 500


@pytest.mark.asyncio
async def test_binary_skill_file_refused(h: Harness) -> None:
    skill(h.root, "s", "---\ndescription: S.\n---\n")
    write(h.root / ".agents/skills/s/tool.bin", b"\x7fELF\x00\x00")
    r = await h.call("read_skill_file", name="s", path="tool.bin")
    assert r.is_error and "binary" in r.content


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "path",
    [
        "../x",
        "../../AGENTS.md",
        "/etc/passwd",
        "a/../../x",
        "a/../SKILL.md",
        "~/secret.txt",
        ".secret",
        "sub/.hidden/file",
        "..",
        "..\\..\\x",
        "",
        "C:/x",
    ],
)
async def test_read_skill_file_path_escapes_refused(h: Harness, path: str) -> None:
    skill(h.root, "s", "---\ndescription: S.\n---\n")
    write(h.root / ".agents/skills/s/.secret", SECRET)
    write(h.root / ".agents/skills/s/sub/.hidden/file", SECRET)
    write(h.root / ".agents/skills/x", SECRET)
    write(h.root / "x", SECRET)
    r = await h.call("read_skill_file", name="s", path=path)
    assert r.is_error, r.content
    assert SECRET not in r.content
    assert "root:" not in r.content


@pytest.mark.asyncio
async def test_read_skill_file_symlinks_refused(h: Harness, tmp_path: Path) -> None:
    skill(h.root, "s", "---\ndescription: S.\n---\n")
    outside = write(tmp_path / "outside" / "secret.txt", SECRET)
    folder = h.root / ".agents/skills/s"
    os.symlink(outside, folder / "link.txt")  # a file link pointing outside
    os.symlink(outside.parent, folder / "linkdir")  # a folder link pointing outside
    os.symlink("/etc/passwd", folder / "passwd")
    write(folder / "real.md", "inside\n")
    os.symlink("real.md", folder / "inner-link.md")  # even inside: not followed
    for path in ["link.txt", "linkdir/secret.txt", "passwd", "inner-link.md"]:
        r = await h.call("read_skill_file", name="s", path=path)
        assert r.is_error and "symbolic link" in r.content, (path, r.content)
        assert SECRET not in r.content and "root:" not in r.content
    listing = (await h.call("read_skill", name="s")).content
    assert "link.txt  (symbolic link: not readable here)" in listing
    assert SECRET not in listing


def test_skill_specs() -> None:
    for tool in skill_tools():
        spec = tool.spec()
        assert spec.name == tool.name
        assert "name" in spec.parameters["properties"]


@pytest.mark.asyncio
async def test_load_workspace_context_never_fails(h: Harness) -> None:
    write(h.root / "AGENTS.md", "Rules.\n")

    async def get_workspace() -> Workspace:
        return h.ws

    context = await load_workspace_context(get_workspace)
    assert context.instructions == "Rules."

    async def no_workspace() -> Workspace:
        raise WorkspaceError("This chat has no workspace.")

    assert await load_workspace_context(no_workspace) == WorkspaceContext()

    async def hangs() -> Workspace:
        await asyncio.sleep(10)
        raise AssertionError("unreachable")

    assert await load_workspace_context(hangs, timeout=0.05) == WorkspaceContext()
