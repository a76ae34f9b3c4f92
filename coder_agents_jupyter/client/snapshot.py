"""A chat as static, self-contained HTML: what a saved notebook shows without a kernel
(nbviewer, GitHub, nbconvert). The live widget replaces it while a kernel runs.

The look follows the panel (user bubbles, tool cards, coloured diffs) with inline styles only,
since renderers of saved notebooks strip stylesheets and scripts.
"""

from __future__ import annotations

import html
import json
from typing import Any

MAX_MESSAGES = 200
MAX_TEXT = 20_000
MAX_OUTPUT = 4_000

_BOX = (
    "font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; font-size: 13px; "
    "line-height: 1.45; border: 1px solid #d0d7de; border-radius: 6px; padding: 8px 12px; "
    "max-width: 860px;"
)
_USER = (
    "margin: 6px 0 6px auto; width: fit-content; max-width: 85%; padding: 6px 10px; "
    "border-radius: 10px; background: #eef1f4; white-space: pre-wrap;"
)
_CARD = (
    "margin: 6px 0; border: 1px solid #d0d7de; border-left: 3px solid #57606a; "
    "border-radius: 4px; padding: 4px 8px;"
)
_PRE = (
    "margin: 4px 0 0; padding: 6px 8px; overflow-x: auto; max-height: 320px; "
    "background: #f6f8fa; border-radius: 4px; font-size: 12px; "
    "font-family: ui-monospace, Menlo, Consolas, monospace;"
)
_MUTED = "color: #57606a;"
_HEADER = (
    "display: flex; gap: 8px; align-items: baseline; border-bottom: 1px solid #d0d7de; "
    "padding-bottom: 4px; margin-bottom: 6px;"
)
_STATUS = {
    "pending": "starting",
    "running": "running",
    "waiting": "ready",
    "requires_action": "needs you",
    "paused": "stopped",
    "error": "error",
    "completed": "done",
}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n… ({len(text) - limit} more)"


def _markdown(text: str) -> str:
    """Markdown as HTML with any raw HTML in it escaped (mistune comes with nbconvert), else
    the text as it is."""
    text = _clip(text, MAX_TEXT)
    try:
        import mistune

        render = mistune.create_markdown(escape=True, plugins=["strikethrough", "table"])
        return str(render(text))
    except Exception:  # no mistune, or a mistune of another major version
        return f'<div style="white-space: pre-wrap">{html.escape(text)}</div>'


def _diff(text: str) -> str:
    lines = []
    for line in _clip(text, MAX_OUTPUT).splitlines():
        colour = ""
        if line.startswith("+") and not line.startswith("+++"):
            colour = "background: #dafbe1;"
        elif line.startswith("-") and not line.startswith("---"):
            colour = "background: #ffebe9;"
        elif line.startswith("@@"):
            colour = "color: #8250df;"
        lines.append(f'<span style="display: block; {colour}">{html.escape(line) or " "}</span>')
    return f'<pre style="{_PRE}">{"".join(lines)}</pre>'


def _pre(text: str, style: str = "") -> str:
    return f'<pre style="{_PRE} {style}">{html.escape(_clip(text, MAX_OUTPUT))}</pre>'


def _summary(name: str, args: dict[str, Any]) -> str:
    for key in ("command", "path", "title", "prompt", "code"):
        value = args.get(key)
        if isinstance(value, str) and value:
            return value.splitlines()[0][:120]
    edits = args.get("edits")
    if isinstance(edits, list):
        paths = sorted({e.get("path", "") for e in edits if isinstance(e, dict)})
        return ", ".join(p for p in paths if p)[:120]
    return ""


def _tool(call: dict[str, Any], result: dict[str, Any] | None) -> str:
    name = str(call.get("name", "tool"))
    args = call.get("input") or {}
    head = f"<b>{html.escape(name)}</b> <code>{html.escape(_summary(name, args))}</code>"
    border = "#57606a"
    body = ""
    if result is None:
        head += " <i>(no result)</i>"
    else:
        display = result.get("display") or {}
        if result.get("is_error"):
            border = "#cf222e"
            body = _pre(str(result.get("content", "")), "color: #cf222e;")
        elif isinstance(display.get("diff"), str):
            body = _diff(display["diff"])
        elif isinstance(display.get("files"), list):
            body = "".join(
                _diff(f.get("diff", "")) for f in display["files"] if isinstance(f, dict)
            )
        elif "exit_code" in display:
            terminal = (
                f"$ {display.get('command', '')}\n{display.get('output') or ''}\n"
                f"[exit {display.get('exit_code')}]"
            )
            body = _pre(terminal, "background: #24292f; color: #f6f8fa;")
    style = _CARD.replace("#57606a", border)
    return f'<div style="{style}">{head}{body}</div>'


def snapshot_html(chat: dict[str, Any], messages: list[dict[str, Any]]) -> str:
    """The chat (its last ``MAX_MESSAGES`` messages) as one HTML fragment."""
    results = {
        b.get("tool_call_id"): b
        for m in messages
        if m.get("role") == "tool"
        for b in m.get("content", [])
        if b.get("type") == "tool_result"
    }
    parts = []
    shown = [m for m in messages if m.get("role") != "tool"][-MAX_MESSAGES:]
    for m in shown:
        if m.get("is_summary"):
            parts.append(f'<div style="{_MUTED} text-align: center;">(earlier summarised)</div>')
            continue
        blocks = m.get("content", [])
        if m.get("role") == "user":
            text = "\n\n".join(b.get("text", "") for b in blocks if b.get("type") == "text")
            images = sum(1 for b in blocks if b.get("type") == "image")
            extra = f" <i>(+{images} image{'s' if images > 1 else ''})</i>" if images else ""
            parts.append(f'<div style="{_USER}">{html.escape(_clip(text, MAX_TEXT))}{extra}</div>')
            continue
        for b in blocks:
            kind = b.get("type")
            if kind == "text" and b.get("text"):
                parts.append(_markdown(b["text"]))
            elif kind == "reasoning" and b.get("text"):
                thought = html.escape(_clip(b["text"], MAX_TEXT))
                parts.append(
                    f'<details style="{_MUTED}"><summary><i>Thinking</i></summary>'
                    f'<div style="white-space: pre-wrap">{thought}</div></details>'
                )
            elif kind == "tool_call":
                parts.append(_tool(b, results.get(b.get("id"))))
    usage = chat.get("usage") or {}
    tokens = sum(
        int(usage.get(k) or 0)
        for k in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
    )
    status = _STATUS.get(str(chat.get("status")), str(chat.get("status")))
    title = html.escape(str(chat.get("title") or "Agent chat"))
    meta = html.escape(f"{status} · {chat.get('model', '')} · {tokens} tokens")
    header = f'<div style="{_HEADER}"><b>{title}</b><span style="{_MUTED}">{meta}</span></div>'
    error = ""
    if chat.get("status") == "error" and chat.get("error"):
        message = (chat["error"] or {}).get("message", "")
        error = f'<div style="color: #cf222e;">{html.escape(str(message))}</div>'
    data = html.escape(json.dumps({"chat_id": chat.get("id")}), quote=True)
    return (
        f'<div class="coder-agents-snapshot" data-chat="{data}" style="{_BOX}">'
        f"{header}{''.join(parts)}{error}</div>"
    )
