"""Workspace context (instruction files, skills) and the skill tools read_skill, read_skill_file.

A workspace may carry instructions for the agent:

- **Instruction files** at its root: ``AGENTS.md``, and the other names tools of other vendors
  use for the same purpose (``INSTRUCTION_FILES``). Each one present is read, up to 64 KiB
  (longer files are cut, with a note saying how to read the rest); a file whose text repeats
  an earlier one (a ``CLAUDE.md`` that is a symlink to ``AGENTS.md``) is included once.
- **Skills**: folders ``.agents/skills/<folder>/`` holding a ``SKILL.md`` whose front matter
  gives a ``name`` and a one-line ``description``::

      ---
      name: pdf-report
      description: Build a PDF report from the notebooks in reports/.
      ---
      How to do it... (the body, read by read_skill)

  ``name`` defaults to the folder's name, ``description`` to the first line of the body.

``workspace_context(ws)`` gathers both through the ``Workspace`` interface only (so it works the
same over SSH) and ``WorkspaceContext.prompt_block()`` renders what goes into the system prompt:
the instructions and an ``<available-skills>`` index. The model then calls ``read_skill`` for a
skill's body and the list of its files, and ``read_skill_file`` for one of those files.

``read_skill_file`` takes a path relative to the skill's folder and refuses anything that could
leave it: absolute paths, ``~``, ``..`` components, hidden components and symbolic links (the
Workspace interface has no realpath, so a link is refused rather than followed: with no link
below the skill folder, the file read is the one named, inside it).
"""

from __future__ import annotations

import asyncio
import codecs
import difflib
import logging
import posixpath
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from ..errors import ToolError, WorkspaceError
from ..workspaces.base import DirEntry, FileStat, Workspace
from .base import Tool, ToolContext, ToolResult
from .file_tools import _human_size, _looks_binary

log = logging.getLogger(__name__)

INSTRUCTION_FILES = ("AGENTS.md", "CLAUDE.md", ".cursorrules")
"""Instruction files read at the workspace root, in this order (each one present is used)."""
MAX_INSTRUCTION_BYTES = 64 * 1024
SKILLS_DIR = ".agents/skills"
SKILL_FILE = "SKILL.md"
MAX_SKILLS = 100  # skill folders looked at; more are left out of the index, with a note
MAX_SKILL_HEAD_BYTES = 64 * 1024  # read of a SKILL.md for its front matter during discovery
MAX_SKILL_FILE_BYTES = 512 * 1024  # read_skill's SKILL.md and read_skill_file's file
MAX_DESCRIPTION_CHARS = 300  # of one index line
MAX_NAME_CHARS = 64
MAX_LISTED_FILES = 200  # files listed by read_skill
MAX_LIST_DEPTH = 6
CONTEXT_TIMEOUT = 15.0  # seconds load_workspace_context waits for a slow workspace
CONTEXT_KEY = "workspace_context"
"""``ToolContext.extra`` key under which the loop may put the turn's ``WorkspaceContext``; the
skill tools then find skills without listing the skills folder again."""


# ----- what the context holds -----


@dataclass(frozen=True)
class SkillInfo:
    name: str
    description: str  # one line
    path: str  # absolute path of the skill's folder in the workspace

    @property
    def folder(self) -> str:
        return posixpath.basename(self.path)


@dataclass(frozen=True)
class InstructionFile:
    name: str  # as found at the root, e.g. "AGENTS.md"
    path: str  # absolute
    content: str  # the text, with a note at its end when it was cut
    size: int  # bytes of the whole file
    truncated: bool


@dataclass(frozen=True)
class WorkspaceContext:
    """What the workspace tells the agent: instruction files and skills. Immutable; built by
    ``workspace_context`` once per turn."""

    root: str = ""
    instruction_files: tuple[InstructionFile, ...] = ()
    skills: tuple[SkillInfo, ...] = ()
    notes: tuple[str, ...] = ()
    """Problems met (an unreadable AGENTS.md, a skill skipped as malformed), one line each;
    listed in the prompt block too, so the model can tell the user why a skill is missing."""

    @property
    def instructions(self) -> str | None:
        """The instruction files' text, joined (None when there is none)."""
        if not self.instruction_files:
            return None
        return "\n\n".join(f.content for f in self.instruction_files)

    def skill(self, name: str) -> SkillInfo | None:
        return _match_skill(self.skills, name)

    def prompt_block(self) -> str:
        """Text to append to the system prompt; empty when the workspace has nothing to say."""
        parts = []
        for f in self.instruction_files:
            parts.append(
                f"Instructions from {f.name} in the workspace ({f.path}); follow them for work "
                f'in this workspace:\n<workspace-instructions file="{f.name}">\n'
                f"{f.content.strip()}\n</workspace-instructions>"
            )
        if self.skills:
            lines = [
                "<available-skills>",
                f"Skills of this workspace ({posixpath.join(self.root, SKILLS_DIR)}). Before you "
                "do a task one of them covers, call read_skill with its name and follow its "
                "instructions; read the files it refers to with read_skill_file.",
            ]
            lines += [f"- {s.name}: {s.description}" for s in self.skills]
            lines.append("</available-skills>")
            parts.append("\n".join(lines))
        if self.notes:
            parts.append(
                "Problems found reading the workspace's instructions and skills (tell the user "
                "if they matter):\n" + "\n".join(f"- {n}" for n in self.notes)
            )
        return "\n\n".join(parts)


# ----- front matter -----

_KEY_LINE = re.compile(r"^([A-Za-z_][\w.-]*)\s*:(?:\s+(.*)|\s*)$")
_BLOCK_INDICATOR = re.compile(r"^[|>][+-]?\d*$")


def parse_front_matter(text: str) -> tuple[dict[str, str], str] | None:
    """``(fields, body)`` of a Markdown file with YAML-like front matter.

    Tolerant and dependency-free: top-level ``key: value`` lines, values plain, single- or
    double-quoted, or block scalars (``|``, ``>``) and indented continuation lines; anything
    else (lists, nested maps) is kept as rough text or ignored. Keys are lower-cased. A file
    without front matter gives ``({}, text)``; front matter that is opened but never closed
    gives None.
    """
    text = text.removeprefix("\ufeff")
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}, text
    for end in range(1, len(lines)):
        if lines[end].strip() in ("---", "..."):
            body = "\n".join(lines[end + 1 :])
            return _parse_fields(lines[1:end]), body
    return None


def _parse_fields(lines: list[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        m = _KEY_LINE.match(line)  # only unindented lines can start a key
        if m is None:
            continue
        key, value = m.group(1).lower(), (m.group(2) or "").strip()
        # The lines that belong to this value: indented ones, and blank ones between them.
        more: list[str] = []
        while i < len(lines) and (not lines[i].strip() or lines[i][:1] in (" ", "\t")):
            more.append(lines[i])
            i += 1
        while more and not more[-1].strip():
            more.pop()
        if _BLOCK_INDICATOR.match(value):
            fields[key] = _block_scalar(more, literal=value.startswith("|"))
        elif value[:1] in ('"', "'"):
            fields[key] = _quoted(" ".join([value] + [m.strip() for m in more]))
        else:
            value = re.split(r"\s+#", value, maxsplit=1)[0]  # a YAML comment
            fields[key] = " ".join(p for p in [value] + [m.strip() for m in more] if p)
    return fields


def _block_scalar(lines: list[str], *, literal: bool) -> str:
    indent = min((len(ln) - len(ln.lstrip()) for ln in lines if ln.strip()), default=0)
    stripped = [ln[indent:] for ln in lines]
    if literal:
        return "\n".join(stripped).strip()
    return " ".join(" ".join(stripped).split())


def _quoted(value: str) -> str:
    quote = value[0]
    end = value.rfind(quote)
    inner = value[1:end] if end > 0 else value[1:]
    if quote == "'":
        return inner.replace("''", "'")
    return inner.replace('\\"', '"').replace("\\n", "\n").replace("\\t", "\t").replace("\\\\", "\\")


def _one_line(text: str, limit: int = MAX_DESCRIPTION_CHARS) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3].rstrip() + "..."


def _first_body_line(body: str) -> str:
    """The first non-empty line of the body that is not a heading (else the first heading)."""
    heading = ""
    for line in body.splitlines():
        s = line.strip()
        if not s or s in ("---", "***", "```"):
            continue
        if s.startswith("#"):
            heading = heading or s.lstrip("#").strip()
            continue
        return s
    return heading


def _valid_name(name: str) -> bool:
    return (
        0 < len(name) <= MAX_NAME_CHARS
        and "/" not in name
        and "\\" not in name
        and name.isprintable()
        and name == name.strip()
    )


def _match_skill(skills: tuple[SkillInfo, ...] | list[SkillInfo], name: str) -> SkillInfo | None:
    """The skill called ``name`` (or living in the folder ``name``); case-insensitive if unique."""
    name = name.strip().removeprefix("workspace/")
    for s in skills:
        if s.name == name:
            return s
    for s in skills:
        if s.folder == name:
            return s
    folded = [s for s in skills if name.casefold() in (s.name.casefold(), s.folder.casefold())]
    return folded[0] if len(folded) == 1 else None


# ----- reading the workspace -----


def _decode(data: bytes, *, cut: bool) -> str:
    """UTF-8 text of ``data``; with ``cut``, a character split by the cut is dropped."""
    if cut:
        return codecs.getincrementaldecoder("utf-8")("replace").decode(data, final=False)
    return data.decode("utf-8", errors="replace")


async def _stat_quiet(ws: Workspace, path: str, notes: list[str]) -> FileStat | None:
    try:
        return await ws.stat(path)
    except WorkspaceError as exc:
        notes.append(str(exc))
        return None


async def _instruction_file(ws: Workspace, name: str, notes: list[str]) -> InstructionFile | None:
    path = posixpath.join(ws.root, name)
    st = await _stat_quiet(ws, path, notes)
    if st is None or not st.is_file:
        return None
    try:
        data = await ws.read_bytes(path, MAX_INSTRUCTION_BYTES + 1)
    except WorkspaceError as exc:
        notes.append(f"{name} could not be read: {exc}")
        return None
    truncated = len(data) > MAX_INSTRUCTION_BYTES
    data = data[:MAX_INSTRUCTION_BYTES]
    if _looks_binary(data[:8192]):
        notes.append(f"{name} was not read: it is not a UTF-8 text file.")
        return None
    text = _decode(data, cut=truncated).strip()
    if not text:
        return None
    size = max(st.size, len(data))
    if truncated:
        text += (
            f"\n\n[{name} is {_human_size(size)}; only its first "
            f"{_human_size(MAX_INSTRUCTION_BYTES)} are shown here. Read the rest with read_file "
            f"{path} if it matters for the task.]"
        )
    return InstructionFile(name=name, path=path, content=text, size=size, truncated=truncated)


async def _skill(ws: Workspace, folder: str, skills_dir: str, notes: list[str]) -> SkillInfo | None:
    path = posixpath.join(skills_dir, folder)
    skill_md = posixpath.join(path, SKILL_FILE)
    st = await _stat_quiet(ws, skill_md, notes)
    if st is None:
        return None  # a helper folder without SKILL.md is not a skill
    if not st.is_file:
        notes.append(f"Skill {folder!r} skipped: its {SKILL_FILE} is not a regular file.")
        return None
    try:
        data = await ws.read_bytes(skill_md, MAX_SKILL_HEAD_BYTES)
    except WorkspaceError as exc:
        notes.append(f"Skill {folder!r} skipped: {exc}")
        return None
    if _looks_binary(data[:8192]):
        notes.append(f"Skill {folder!r} skipped: its {SKILL_FILE} is not UTF-8 text.")
        return None
    parsed = parse_front_matter(_decode(data, cut=len(data) >= MAX_SKILL_HEAD_BYTES))
    if parsed is None:
        notes.append(
            f"Skill {folder!r} skipped: the front matter of its {SKILL_FILE} opens with '---' "
            "but is never closed by a '---' line."
        )
        return None
    fields, body = parsed
    name = _one_line(fields.get("name", ""), 10_000)
    if name and not _valid_name(name):
        notes.append(
            f"Skill {folder!r}: its name {name[:80]!r} is not usable (one line of at most "
            f"{MAX_NAME_CHARS} characters, no slashes); it is offered as {folder!r}."
        )
        name = ""
    description = _one_line(fields.get("description", "") or _first_body_line(body))
    return SkillInfo(name=name or folder, description=description or "(no description)", path=path)


async def discover_skills(ws: Workspace) -> tuple[list[SkillInfo], list[str]]:
    """The skills in ``.agents/skills`` (sorted by name) and notes on what was skipped."""
    notes: list[str] = []
    skills_dir = posixpath.join(ws.root, SKILLS_DIR)
    st = await _stat_quiet(ws, skills_dir, notes)
    if st is None or not st.is_dir:
        return [], notes
    try:
        entries = await ws.list_dir(skills_dir)
    except WorkspaceError as exc:
        notes.append(f"The skills folder could not be listed: {exc}")
        return [], notes
    folders = [e.name for e in entries if e.is_dir and not e.name.startswith(".")]
    if len(folders) > MAX_SKILLS:
        notes.append(
            f"The skills folder has {len(folders)} folders; only the first {MAX_SKILLS} "
            "(by name) were looked at."
        )
        folders = folders[:MAX_SKILLS]
    found = await asyncio.gather(*(_skill(ws, f, skills_dir, notes) for f in folders))
    skills: list[SkillInfo] = []
    taken: dict[str, str] = {}
    # On a name clash the skill in the folder of that name wins, else the first folder by name.
    ranked = sorted(
        (s for s in found if s is not None), key=lambda s: (s.name, s.folder != s.name, s.folder)
    )
    for s in ranked:
        if s.name in taken:
            notes.append(
                f"Skill {s.folder!r} skipped: the skill in {taken[s.name]!r} has the same "
                f"name {s.name!r}."
            )
            continue
        taken[s.name] = s.folder
        skills.append(s)
    return skills, notes


async def workspace_context(ws: Workspace) -> WorkspaceContext:
    """Instruction files and skills of ``ws``, read through the Workspace interface.

    Cheap when there is nothing: one ``stat`` per instruction file name and one for the skills
    folder, all at once. File problems become ``notes``, never exceptions; only a workspace
    that cannot be reached at all raises ``WorkspaceError``.
    """
    await ws.connect()
    notes: list[str] = []
    files, (skills, skill_notes) = await asyncio.gather(
        asyncio.gather(*(_instruction_file(ws, name, notes) for name in INSTRUCTION_FILES)),
        discover_skills(ws),
    )
    kept: list[InstructionFile] = []
    for f in files:
        if f is not None and all(f.content != k.content for k in kept):
            kept.append(f)
    return WorkspaceContext(
        root=ws.root,
        instruction_files=tuple(kept),
        skills=tuple(skills),
        notes=tuple(notes + skill_notes),
    )


async def load_workspace_context(
    get_workspace: Callable[[], Awaitable[Workspace]], timeout: float = CONTEXT_TIMEOUT
) -> WorkspaceContext:
    """``workspace_context`` for the agent loop: never raises, never takes over ``timeout``.

    A chat without a workspace, a workspace that cannot be reached, or one too slow to answer
    gives an empty context (logged): the turn goes on, and the tools report the problem if the
    model uses the workspace.
    """
    try:
        async with asyncio.timeout(timeout):
            return await workspace_context(await get_workspace())
    except WorkspaceError as exc:
        log.info("no workspace context: %s", exc)
    except TimeoutError:
        log.warning("no workspace context: the workspace did not answer within %g s", timeout)
    return WorkspaceContext()


# ----- the tools -----


async def _find_skill(ctx: ToolContext, ws: Workspace, name: str) -> SkillInfo:
    cached = ctx.extra.get(CONTEXT_KEY)
    if isinstance(cached, WorkspaceContext):
        found = cached.skill(name)
        if found is not None:
            return found
    skills, _ = await discover_skills(ws)  # none cached, or one added during the turn
    found = _match_skill(skills, name)
    if found is not None:
        return found
    if not skills:
        raise ToolError(
            f"Unknown skill {name!r}: this workspace has no skills (folders "
            f"{SKILLS_DIR}/<name>/ with a {SKILL_FILE})."
        )
    names = ", ".join(s.name for s in skills)
    raise ToolError(f"Unknown skill {name!r}. Available skills: {names}.")


async def _read_text(ws: Workspace, path: str, shown: str, size: int) -> tuple[str, bool]:
    data = await ws.read_bytes(path, MAX_SKILL_FILE_BYTES + 1)
    truncated = len(data) > MAX_SKILL_FILE_BYTES
    data = data[:MAX_SKILL_FILE_BYTES]
    if _looks_binary(data[:8192]):
        raise ToolError(
            f"{shown} is a binary file ({_human_size(size)}); only text can be read this way. "
            f"Its path in the workspace is {path}: run it or inspect it with execute."
        )
    return _decode(data, cut=truncated), truncated


def _truncation_note(path: str, size: int) -> str:
    return (
        f"\n[... truncated: the file is {_human_size(size)}, only the first "
        f"{_human_size(MAX_SKILL_FILE_BYTES)} are shown. Read further parts with read_file "
        f"{path} and an offset.]"
    )


async def _list_files(ws: Workspace, root: str) -> tuple[list[str], bool]:
    """Files below a skill folder (relative paths, hidden ones left out), breadth first."""
    out: list[str] = []
    queue: list[tuple[str, int]] = [("", 0)]
    more = False
    while queue:
        rel, depth = queue.pop(0)
        try:
            entries = await ws.list_dir(posixpath.join(root, rel) if rel else root)
        except WorkspaceError:
            continue
        for e in entries:
            if e.name.startswith("."):
                continue
            path = posixpath.join(rel, e.name) if rel else e.name
            if path == SKILL_FILE:
                continue
            if len(out) >= MAX_LISTED_FILES:
                more = True
                break
            if e.is_symlink:
                out.append(f"{path}{'/' if e.is_dir else ''}  (symbolic link: not readable here)")
            elif e.is_dir:
                if depth + 1 < MAX_LIST_DEPTH:
                    queue.append((path, depth + 1))
                else:
                    out.append(f"{path}/  (not listed: too deep)")
            else:
                size = f"  ({_human_size(e.size)})" if e.size is not None else ""
                out.append(f"{path}{size}")
        if more:
            break
    return out, more


class ReadSkillArgs(BaseModel):
    name: str = Field(
        max_length=200, description="Name of the skill, as listed in <available-skills>."
    )


class ReadSkill(Tool):
    name = "read_skill"
    description = (
        "Read a skill of the workspace (listed in <available-skills>): its instructions "
        "(SKILL.md) and the list of the other files in its folder. Call this before doing a "
        "task a skill covers, then follow it. Read the skill's other files with "
        "read_skill_file."
    )
    Args = ReadSkillArgs

    async def run(self, ctx: ToolContext, args: ReadSkillArgs) -> ToolResult:
        ws = await ctx.workspace()
        skill = await _find_skill(ctx, ws, args.name)
        skill_md = posixpath.join(skill.path, SKILL_FILE)
        st = await ws.stat(skill_md)
        if st is None or not st.is_file:
            raise ToolError(f"The skill {skill.name!r} has no {SKILL_FILE} any more ({skill_md}).")
        text, truncated = await _read_text(ws, skill_md, SKILL_FILE, st.size)
        parsed = parse_front_matter(text)
        body = (parsed[1] if parsed is not None else text).strip()
        files, more = await _list_files(ws, skill.path)
        parts = [f"Skill {skill.name!r} (folder {skill.path}):", "", body or "(SKILL.md is empty)"]
        if truncated:
            parts.append(_truncation_note(skill_md, st.size))
        parts.append("")
        if files:
            parts.append(
                "Other files of this skill (read one with read_skill_file and its path below; "
                f"run scripts with execute from {skill.path}):"
            )
            parts += [f"- {f}" for f in files]
            if more:
                parts.append(
                    f"[... more files not listed (the list stops at {MAX_LISTED_FILES}); "
                    f"list them with execute, e.g. `find {skill.path} -type f`.]"
                )
        else:
            parts.append("The skill has no other files.")
        display: dict[str, Any] = {"skill": skill.name, "path": skill.path, "files": files}
        return ToolResult(content="\n".join(parts), display=display)


class ReadSkillFileArgs(BaseModel):
    name: str = Field(max_length=200, description="Name of the skill.")
    path: str = Field(
        max_length=1024,
        description="Path of the file relative to the skill's folder, as listed by read_skill "
        "(e.g. 'reference/api.md').",
    )


def _skill_path_parts(path: str) -> list[str]:
    """The components of a path relative to a skill folder; ToolError for any escape."""
    raw = path.strip()
    if not raw:
        raise ToolError("The path is empty; give a path relative to the skill's folder.")
    if "\x00" in raw or "\\" in raw:
        raise ToolError(
            f"Refused path {path!r}: use a plain relative path with forward slashes, "
            "as read_skill lists them."
        )
    if raw.startswith(("/", "~")) or re.match(r"^[A-Za-z]:(/|$)", raw):
        raise ToolError(
            f"Refused path {path!r}: absolute paths are not allowed. Give a path relative to "
            "the skill's folder, as read_skill lists them."
        )
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ToolError(
            f"Refused path {path!r}: '..' is not allowed; read_skill_file reads only files "
            "inside the skill's folder."
        )
    if any(p.startswith(".") for p in parts):
        raise ToolError(
            f"Refused path {path!r}: hidden files and folders (names starting with '.') are "
            "not readable with read_skill_file."
        )
    if not parts:
        raise ToolError(f"{path!r} is the skill's folder itself; call read_skill to see its files.")
    return parts


async def _entry(ws: Workspace, directory: str, name: str, shown: str) -> DirEntry:
    """The entry ``name`` of ``directory`` as listed (links not followed)."""
    entries = await ws.list_dir(directory)
    for e in entries:
        if e.name == name:
            return e
    message = f"{shown} does not exist in the skill's folder."
    similar = difflib.get_close_matches(name, [e.name for e in entries], n=3, cutoff=0.6)
    if similar:
        message += f" Similar names: {', '.join(similar)}."
    raise ToolError(message + " Call read_skill to see the skill's files.")


class ReadSkillFile(Tool):
    name = "read_skill_file"
    description = (
        "Read a text file of a workspace skill: `path` is relative to the skill's folder, as "
        "read_skill lists the files (no absolute paths, no '..', no hidden files, no symbolic "
        f"links). Files over {MAX_SKILL_FILE_BYTES // 1024} KB are cut."
    )
    Args = ReadSkillFileArgs

    async def run(self, ctx: ToolContext, args: ReadSkillFileArgs) -> ToolResult:
        parts = _skill_path_parts(args.path)  # refuse before touching the workspace
        ws = await ctx.workspace()
        skill = await _find_skill(ctx, ws, args.name)
        shown = "/".join(parts)
        # No realpath in the Workspace interface: walk the path entry by entry, refusing any
        # symbolic link, so that what is read is the file named, inside the skill's folder.
        directory = skill.path
        for i, part in enumerate(parts):
            entry = await _entry(ws, directory, part, shown)
            sub = "/".join(parts[: i + 1])
            if entry.is_symlink:
                raise ToolError(
                    f"Refused path {args.path!r}: {sub} is a symbolic link, and read_skill_file "
                    "does not follow links (they could lead out of the skill's folder)."
                )
            if i < len(parts) - 1 and not entry.is_dir:
                raise ToolError(f"{sub} is a file, not a folder, so {shown} does not exist.")
            directory = posixpath.join(directory, part)
        if entry.is_dir:
            raise ToolError(f"{shown} is a folder; call read_skill to see the skill's files.")
        path = directory
        st = await ws.stat(path)
        if st is None or not st.is_file:
            raise ToolError(f"{shown} is not a regular file.")
        text, truncated = await _read_text(ws, path, shown, st.size)
        if truncated:
            text += _truncation_note(path, st.size)
        elif not text:
            text = f"({shown} is empty.)"
        return ToolResult(
            content=text, display={"skill": skill.name, "path": path, "truncated": truncated}
        )


SKILL_TOOLS: list[Tool] = [ReadSkill(), ReadSkillFile()]


def skill_tools() -> list[Tool]:
    """The skill tools (stateless, so the instances are shared)."""
    return list(SKILL_TOOLS)


def tools_for_context(context: WorkspaceContext | None) -> list[Tool]:
    """The skill tools when the workspace has skills, else none."""
    return skill_tools() if context is not None and context.skills else []


__all__ = [
    "CONTEXT_KEY",
    "INSTRUCTION_FILES",
    "SKILL_TOOLS",
    "InstructionFile",
    "ReadSkill",
    "ReadSkillFile",
    "SkillInfo",
    "WorkspaceContext",
    "discover_skills",
    "load_workspace_context",
    "parse_front_matter",
    "skill_tools",
    "tools_for_context",
    "workspace_context",
]
