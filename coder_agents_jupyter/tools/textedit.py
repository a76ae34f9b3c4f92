"""Pure text helpers of the file tools: search/replace with a whitespace-tolerant cascade,
closest-match hints, numbered lines and bounded unified diffs.

Models copy text from ``read_file`` output and often get whitespace slightly wrong (trailing
spaces dropped, indentation shifted). The cascade accepts that, but never guesses between
several places: an edit must identify exactly one spot unless ``replace_all`` says otherwise.
"""

from __future__ import annotations

import difflib
import heapq
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .base import truncate_middle

MAX_HINT_LINES = 20_000  # files longer than this get no "closest match" search (too slow)
_LINE_NUMBER_PREFIX = re.compile(r"^\s*\d+\t", re.MULTILINE)


class EditError(Exception):
    """An edit cannot be applied; the message tells the model what to change."""


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    replacement: str


def apply_edit(content: str, old_text: str, new_text: str, replace_all: bool) -> tuple[str, int]:
    """``content`` with ``old_text`` replaced by ``new_text``, and how many places changed.

    Matching cascade: exact substring, then line by line ignoring trailing whitespace, then
    line by line ignoring leading and trailing whitespace (``new_text`` is then re-indented to
    the indentation found in the file). A file with CRLF line endings keeps them.
    """
    if not old_text:
        raise EditError(
            "old_text is empty. Give the exact text to replace (copy it from read_file "
            "output); to create or overwrite a whole file use write_file."
        )
    if old_text == new_text:
        raise EditError("old_text and new_text are identical, so the edit would change nothing.")
    crlf = "\r\n" in content and content.count("\r\n") == content.count("\n")
    if crlf:
        content = content.replace("\r\n", "\n")
        old_text = old_text.replace("\r\n", "\n")
        new_text = new_text.replace("\r\n", "\n")
    spans = _find(content, old_text, new_text)
    if not spans:
        raise EditError(not_found_message(content, old_text))
    if len(spans) > 1 and not replace_all:
        lines = [content.count("\n", 0, s.start) + 1 for s in spans]
        shown = ", ".join(str(n) for n in lines[:10]) + (", ..." if len(lines) > 10 else "")
        raise EditError(
            f"old_text matches {len(spans)} places (starting at lines {shown}); it must match "
            "exactly one. Include more surrounding lines in old_text to pick one, or set "
            "replace_all to true to replace every occurrence."
        )
    parts = []
    pos = 0
    for span in spans:
        parts += [content[pos : span.start], span.replacement]
        pos = span.end
    parts.append(content[pos:])
    result = "".join(parts)
    if crlf:
        result = result.replace("\n", "\r\n")
    return result, len(spans)


def _find(content: str, old: str, new: str) -> list[_Span]:
    spans = []
    pos = content.find(old)
    while pos != -1:
        spans.append(_Span(pos, pos + len(old), new))
        pos = content.find(old, pos + len(old))
    if spans or not old.strip():  # whitespace-only text would match every blank line
        return spans
    spans = _find_linewise(content, old, new, str.rstrip, reindent=False)
    if spans:
        return spans
    return _find_linewise(content, old, new, str.strip, reindent=True)


def _find_linewise(
    content: str, old: str, new: str, norm: Callable[[str], str], *, reindent: bool
) -> list[_Span]:
    lines = content.split("\n")
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    ends_with_newline = old.endswith("\n")
    old_lines = (old[:-1] if ends_with_newline else old).split("\n")
    target = [norm(line) for line in old_lines]
    normed = [norm(line) for line in lines]
    n = len(target)
    spans = []
    i = 0
    while i + n <= len(lines):
        if normed[i] != target[0] or normed[i : i + n] != target:
            i += 1
            continue
        last = i + n - 1
        end = starts[last] + len(lines[last])
        if ends_with_newline and last < len(lines) - 1:
            end += 1  # the old text included the line break
        replacement = _reindent(new, old_lines, lines[i : i + n]) if reindent else new
        spans.append(_Span(starts[i], end, replacement))
        i += n
    return spans


def _lead(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _reindent(new: str, old_lines: Sequence[str], matched: Sequence[str]) -> str:
    """Give ``new`` the file's indentation where old_text's indentation was off.

    Each indentation used in old_text maps to the one of the file line it matched. A line of
    ``new_text`` with one of those indentations gets its counterpart; another one is scaled
    when the spaces-only mapping is linear (2-space old_text for a 4-space file), else shifted
    like the longest old indentation it starts with.
    """
    mapping: dict[str, str] = {}
    for old_line, file_line in zip(old_lines, matched, strict=True):
        if old_line.strip():
            mapping.setdefault(_lead(old_line), _lead(file_line))
    if all(old == file for old, file in mapping.items()):
        return new
    scale = _linear_space_mapping(mapping)
    by_length = sorted(mapping, key=len, reverse=True)
    out = []
    for line in new.split("\n"):
        indent = _lead(line)
        if not line.strip():
            pass
        elif indent in mapping:
            line = mapping[indent] + line[len(indent) :]
        elif scale is not None and indent.strip(" ") == "":
            offset, factor = scale
            line = " " * (offset + factor * len(indent)) + line[len(indent) :]
        else:
            key = next((k for k in by_length if indent.startswith(k)), None)
            if key is not None:
                line = mapping[key] + line[len(key) :]
        out.append(line)
    return "\n".join(out)


def _linear_space_mapping(mapping: dict[str, str]) -> tuple[int, int] | None:
    """(offset, factor) with file = offset + factor * old for every spaces-only pair, if any."""
    if len(mapping) < 2 or any(k.strip(" ") or v.strip(" ") for k, v in mapping.items()):
        return None
    points = sorted((len(k), len(v)) for k, v in mapping.items())
    (x0, y0), (x1, y1) = points[0], points[-1]
    factor, rest = divmod(y1 - y0, x1 - x0)
    offset = y0 - factor * x0
    if rest or factor < 1 or offset < 0 or any(y != offset + factor * x for x, y in points):
        return None
    return offset, factor


def not_found_message(content: str, old_text: str) -> str:
    parts = [
        "old_text was not found in the file. It must match the file's text exactly; only "
        "differences in leading/trailing whitespace of whole lines are tolerated."
    ]
    if _LINE_NUMBER_PREFIX.search(old_text) and not _LINE_NUMBER_PREFIX.search(content):
        parts.append(
            'old_text seems to include the line numbers read_file shows ("   12<TAB>"); '
            "leave them out."
        )
    foreign = sorted({c for c in old_text if ord(c) > 127 and c not in content})
    if foreign:
        listed = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in foreign[:5])
        parts.append(f"These characters of old_text do not occur in the file: {listed}.")
    best = closest_match(content, old_text)
    if best is not None:
        first, last, ratio = best
        lines = content.split("\n")[first - 1 : last]
        excerpt = number_lines(lines[:40], first)
        parts.append(
            f"Closest match, lines {first}-{last} ({ratio:.0%} similar):\n{excerpt}\n"
            "Copy the exact text from there (without the line numbers)."
        )
    else:
        parts.append("Nothing similar was found; re-read the file with read_file.")
    return "\n".join(parts)


def closest_match(content: str, old_text: str) -> tuple[int, int, float] | None:
    """1-based first/last line of the window of the file most similar to old_text."""
    lines = content.split("\n")
    old_lines = old_text.strip("\n").split("\n")
    if len(lines) > MAX_HINT_LINES or not old_text.strip():
        return None
    width = min(len(old_lines), len(lines))
    stripped = [line.strip() for line in lines]
    matcher = difflib.SequenceMatcher(None, autojunk=False)
    matcher.set_seq2("\n".join(line.strip() for line in old_lines))
    # quick_ratio is an upper bound of ratio and cheap: rank every window with it, then
    # compute the real ratio only for the few best.
    scored = []
    for i in range(len(lines) - width + 1):
        matcher.set_seq1("\n".join(stripped[i : i + width]))
        scored.append((matcher.quick_ratio(), -i))
    best_ratio, best_i = 0.0, 0
    for _, neg_i in heapq.nlargest(8, scored):
        matcher.set_seq1("\n".join(stripped[-neg_i : -neg_i + width]))
        ratio = matcher.ratio()
        if ratio > best_ratio:
            best_ratio, best_i = ratio, -neg_i
    if best_ratio < 0.4:
        return None
    return best_i + 1, best_i + width, best_ratio


def number_lines(lines: Sequence[str], first: int) -> str:
    """``lines`` prefixed with right-aligned line numbers and a tab, as read_file shows them."""
    width = max(5, len(str(first + len(lines) - 1)))
    return "\n".join(f"{n:>{width}}\t{line}" for n, line in enumerate(lines, first))


def _split_keep_ends(text: str) -> list[str]:
    # Not str.splitlines: it also splits on \x0c, \u2028... which would misnumber lines.
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def unified_diff(old: str, new: str, label: str, *, created: bool = False, limit: int) -> str:
    """A git-style unified diff of ``old`` -> ``new``, bounded to ``limit`` bytes."""
    lines = difflib.unified_diff(
        _split_keep_ends(old),
        _split_keep_ends(new),
        "/dev/null" if created else f"a/{label}",
        f"b/{label}",
        n=3,
    )
    text = "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )
    return truncate_middle(text, limit, hint="the diff is too long to show in full")
