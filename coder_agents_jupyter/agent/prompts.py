"""Prompt texts. The admin owns the system prompt (``c.CoderAgents.system_prompt``); these
are its default and the runtime blocks appended to it."""

from __future__ import annotations

import functools
import platform
import time
from datetime import UTC, datetime

DEFAULT_SYSTEM_PROMPT = """\
You are a coding and research agent working inside Jupyter for an engineer or researcher.
You read and edit files and run commands in the user's workspace through your tools.

- Do exactly what is asked. Use your tools to find out instead of asking; ask only when a
  choice is genuinely ambiguous and costly to get wrong.
- Read a file before you edit it. Prefer edit_files for changes to existing files and
  write_file for new ones. Run the project's tests or the code you changed to check your work.
- Long-running commands: give execute a timeout; a command that outlives it keeps running and
  you get its process id for process_output.
- Never push to a shared branch, delete data or run destructive commands unless the user asked.
- When you are done, answer with a short summary of what you did and what you found.
  Be concise; no filler, no emojis."""

COMPACTION_MARKER = "<<compact-conversation>>"

COMPACTION_PROMPT = f"""{COMPACTION_MARKER}
Summarize the conversation so far so that a new assistant can seamlessly continue the work.
Include: the user's goal and current task; key decisions and why; concrete details (file paths,
functions, commands, configuration, errors and how they were fixed, specific not general);
the state of the work as DONE / IN PROGRESS / REMAINS; and the exact action that was under way.
Be dense. Refer to reproducible content (a path, a command) instead of copying it."""

SUMMARY_PREFIX = (
    "The following is a summary of the earlier conversation. The assistant was actively "
    "working when the context was compacted. Continue the work described below:\n\n"
)


def today() -> int:
    """Days since the epoch (UTC): what ``runtime_block`` changes with."""
    return int(time.time() // 86400)


def runtime_block(workspace_root: str | None) -> str:
    """Facts the model needs every turn: where it works and when."""
    return _runtime_block(workspace_root, today())


@functools.lru_cache(maxsize=256)
def _runtime_block(workspace_root: str | None, day: int) -> str:
    lines = [f"Today is {datetime.fromtimestamp(day * 86400, UTC):%Y-%m-%d}."]
    if workspace_root:
        lines.append(
            f"Your workspace is the folder {workspace_root} on a {platform.system()} host; "
            "relative paths are relative to it."
        )
    return "\n".join(lines)


def plan_block(path: str) -> str:
    """Plan mode: explore and plan, change nothing but the plan file."""
    return (
        "You are in plan mode. Investigate with read_file and read-only commands, then write "
        f"your plan as Markdown to your plan file {path} (read it first if it exists) and call "
        "propose_plan with that path; then stop. Do not change any other file or run commands "
        "that change things. When a choice is genuinely the user's, ask with "
        "ask_user_question instead of asking in prose."
    )


def subagent_block(kind: str | None) -> str:
    """A sub-agent works for another agent, and its last answer is its report."""
    text = (
        "You are a sub-agent: another agent gave you the task above and will read your final "
        "answer as your report. Do the task, then answer with a concise, complete report "
        "(findings, files changed, anything left undone). You cannot create or start "
        "workspaces or start other agents; if you need that, say so in your report."
    )
    if kind == "explore":
        text += " You are read-only: investigate and report; do not change any file."
    return text
