"""What a 5,000-message chat costs the Agents panel, against a chat of one message.

A chat of alternating user and assistant messages (Markdown paragraphs, some with code blocks;
every 10th assistant message calls a tool, followed by its ``tool`` result, so tool cards render)
is written straight into the SQLite database of a JupyterLab this script starts afterwards, with
a second chat of one message as the baseline. In headless Chromium it then opens each chat from
the chat list and measures:

- open: click on the chat item until the last message is inside the conversation's viewport;
- to top: scrolling the conversation from the bottom to the first message (set scrollTop = 0,
  let older messages load, repeat until message 1 is in the DOM);
- fps: frames per second while scrolling back down in 600 px steps, one step per frame;
- JS heap (performance.memory, after a forced GC) after opening and after scrolling.

The DOM it drives is the frontend's contract: chat list items
``.jp-CoderAgents-chatItem[data-chat-id]``, the chat view ``.jp-CoderAgents-chat[data-chat-id]``,
its scroller ``.jp-CoderAgents-conversation`` and messages
``.jp-CoderAgents-message[data-seq][data-role]``.

    .venv/bin/python bench/ui_long_chat.py [--messages 5000] [--no-browser] [--serve]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

REPO = Path(__file__).resolve().parents[1]
# The JupyterLab harness is shared with the browser tests (tests/ui is not a package).
sys.path.insert(0, str(REPO / "tests" / "ui"))

from lab import (  # noqa: E402
    AGENTS_TAB,
    OWNER,
    AgentsLab,
    LabError,
    launch_chromium,
    open_lab,
    start_agents_lab,
)

from coder_agents_jupyter.db import connect  # noqa: E402
from coder_agents_jupyter.db.models import Chat, Message, utcnow  # noqa: E402
from coder_agents_jupyter.db.store import new_id  # noqa: E402
from coder_agents_jupyter.testing.fake_provider import FakeLLM  # noqa: E402

MESSAGES = 5000
PAGE = 200  # what the REST check asks for: the last page of a long chat
FAILURE_SHOT = REPO / "test-artifacts" / "screenshots" / "ui_long_chat-failure.png"

# ----- the seeded chats -----

TOPICS = [
    "the mean in `app.py`",
    "the ZeroDivisionError in `analysis.ipynb`",
    "the README",
    "the input validation",
    "the test suite",
    "the plotting cell",
    "the CSV loader",
    "the error messages",
]
SENTENCES = [
    "I read {topic} and the code around it before changing anything.",
    "The function assumes a non-empty list, so an empty input divides by zero.",
    "Nothing else calls it with filtered data, which is why the bug stayed hidden.",
    "The smallest fix is to check the length first and say what was expected.",
    "I kept the public signature as it is, so existing callers keep working.",
    "The notebook's second cell filters the values before it divides, and the filter can "
    "leave nothing behind.",
    "A clearer error costs one line and saves the next reader a debugging session.",
    "I also ran the tests again; they pass, and the new case is covered.",
    "If you prefer, the function could return NaN instead, as NumPy does.",
    "This keeps {topic} small enough to read in one screen.",
    "The change touches one file; the diff is below.",
]
CODE_BLOCKS = [
    "```python\ndef mean(values: list[float]) -> float:\n    if not values:\n"
    '        raise ValueError("mean() needs at least one value")\n'
    "    return sum(values) / len(values)\n```",
    "```python\nselected = [v for v in values if v > threshold]\n"
    "mean = total / len(selected) if selected else float('nan')\n```",
    "```bash\npython -m pytest -q tests/test_app.py\n```",
    "```python\nimport pandas as pd\n\ndf = pd.read_csv('data.csv')\nprint(df.describe())\n```",
]
PROMPTS = [
    "Can you look at {topic}?",
    "Why does {topic} fail when the list is empty?",
    "Please fix {topic} and keep the change small.",
    "What would you change in {topic}? Explain before editing.",
    "Run the tests again and tell me what fails.",
    "Thanks. Now add a test for the empty case in {topic}.",
]
TOOL_OUTPUT = "\n".join(
    [
        "============================= test session starts ==============================",
        "collected 12 items",
        "",
        "tests/test_app.py ............                                           [100%]",
        "",
        "============================== 12 passed in 0.31s ==============================",
    ]
)


def _paragraph(rng: random.Random, topic: str) -> str:
    picked = rng.sample(SENTENCES, rng.randint(3, 5))
    return " ".join(s.format(topic=topic) for s in picked)


def assistant_text(rng: random.Random, n: int) -> str:
    topic = rng.choice(TOPICS)
    parts = [f"**Step {n}.** " + _paragraph(rng, topic)]
    if rng.random() < 0.35:
        parts.append(rng.choice(CODE_BLOCKS))
    if rng.random() < 0.25:
        parts.append("\n".join(f"- {s.format(topic=topic)}" for s in rng.sample(SENTENCES, 3)))
    if rng.random() < 0.5:
        parts.append(_paragraph(rng, topic))
    return "\n\n".join(parts)


def user_text(rng: random.Random) -> str:
    return rng.choice(PROMPTS).format(topic=rng.choice(TOPICS))


def _tool_messages(n: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A tool call (in assistant message ``n``) and its result, as the agent loop saves them."""
    call_id = f"toolu_bench{n:05d}"
    command = "python -m pytest -q tests/test_app.py"
    call = {"type": "tool_call", "id": call_id, "name": "execute", "input": {"command": command}}
    result = {
        "type": "tool_result",
        "tool_call_id": call_id,
        "content": f"exit 0\n{TOOL_OUTPUT}",
        "display": {
            "command": command,
            "exit_code": 0,
            "output": TOOL_OUTPUT,
            "process_id": f"p{n}",
            "duration_ms": 412,
            "running": False,
        },
    }
    return call, result


def conversation(count: int, seed: int = 0) -> list[tuple[str, list[dict[str, Any]]]]:
    """``(role, content)`` of exactly ``count`` messages, in turns: a user prompt, then the
    assistant's answer. Every 10th assistant message also calls a tool; its result follows as
    a ``tool`` message, then the assistant's answer about it. The chat ends on assistant text,
    as a finished turn does."""
    rng = random.Random(seed)
    out: list[tuple[str, list[dict[str, Any]]]] = []
    answers = 0

    def answer() -> list[dict[str, Any]]:
        nonlocal answers
        answers += 1
        return [{"type": "text", "text": assistant_text(rng, answers)}]

    while count - len(out) >= 2:
        out.append(("user", [{"type": "text", "text": user_text(rng)}]))
        content = answer()
        if answers % 10 == 0 and count - len(out) >= 3:  # a tool turn is 4 messages
            call, result = _tool_messages(answers)
            out += [("assistant", [*content, call]), ("tool", [result]), ("assistant", answer())]
        else:
            out.append(("assistant", content))
    if len(out) < count:  # one message left: a follow-up note ends the last turn
        out.append(("assistant", answer()))
    return out


def _chat_row(chat_id: str, title: str, count: int, updated: Any) -> dict[str, Any]:
    return {
        "id": chat_id,
        "owner": OWNER,
        "title": title,
        "status": "waiting",
        "model": "fake-model",
        "workspace_id": None,
        "parent_id": None,
        "root_id": None,
        "plan_mode": False,
        "owner_info": {"display_name": OWNER, "email": "", "groups": []},
        "archived": False,
        "message_count": count,
        "created_at": updated - timedelta(seconds=15 * count),
        "updated_at": updated,
    }


async def seed(db_url: str, count: int) -> tuple[str, str]:
    """Create the schema (the same migrations the server runs) and insert both chats: the long
    one of ``count`` messages and the one-message baseline. Returns their ids."""
    engine = await connect(db_url)
    try:
        long_id, short_id = new_id(), new_id()
        messages = conversation(count)
        now = utcnow()
        start = now - timedelta(seconds=15 * count)
        rows = []
        for seq, (role, content) in enumerate(messages, start=1):
            text_len = sum(len(b.get("text", "")) for b in content)
            rows.append(
                {
                    "chat_id": long_id,
                    "seq": seq,
                    "role": role,
                    "content": content,
                    "usage": (
                        {"input_tokens": 2000 + 40 * seq, "output_tokens": text_len // 4}
                        if role == "assistant"
                        else None
                    ),
                    "model": "fake-model" if role == "assistant" else None,
                    "is_summary": False,
                    "summary_through_seq": None,
                    "created_at": start + timedelta(seconds=15 * seq),
                }
            )
        rows.append(
            {
                "chat_id": short_id,
                "seq": 1,
                "role": "user",
                "content": [{"type": "text", "text": "Can you look at the mean in `app.py`?"}],
                "usage": None,
                "model": None,
                "is_summary": False,
                "summary_through_seq": None,
                "created_at": now - timedelta(minutes=1),
            }
        )
        async with engine.begin() as conn:
            await conn.execute(
                insert(Chat),
                [
                    _chat_row(
                        long_id, f"A long chat ({len(rows) - 1:,} messages)", len(rows) - 1, now
                    ),
                    _chat_row(short_id, "A chat of one message", 1, now - timedelta(minutes=1)),
                ],
            )
            await conn.execute(insert(Message), rows)
        return long_id, short_id
    finally:
        await engine.dispose()


# ----- the REST check -----


def check_rest(lab: AgentsLab, chat_id: str, count: int) -> dict[str, float]:
    """The server sees the seeded chat as the frontend will ask for it."""
    listed = {c["id"] for c in lab.get_json("chats")}
    if chat_id not in listed:
        raise LabError(f"GET chats does not list the seeded chat {chat_id} (owner {OWNER!r}?)")
    started = time.perf_counter()
    chat = lab.get_json(f"chats/{chat_id}")
    chat_ms = (time.perf_counter() - started) * 1000
    if chat["message_count"] != count:
        raise LabError(f"GET chats/{chat_id}: message_count {chat['message_count']} != {count}")
    started = time.perf_counter()
    page = lab.get_json(f"chats/{chat_id}/messages?before={2**31}&limit={PAGE}")
    page_ms = (time.perf_counter() - started) * 1000
    seqs = [m["seq"] for m in page]
    expected = list(range(count - PAGE + 1, count + 1))
    if seqs != expected:
        raise LabError(
            f"the last page has seqs {seqs[:3]}...{seqs[-3:]} ({len(seqs)}), "
            f"expected {expected[0]}..{expected[-1]}"
        )
    roles = {m["role"] for m in page}
    tools = sum(b["type"] == "tool_call" for m in page for b in m["content"])
    if roles != {"user", "assistant", "tool"} or not tools:
        raise LabError(f"the last page lacks tool cards: roles {sorted(roles)}, {tools} tool calls")
    return {"chat_ms": chat_ms, "page_ms": page_ms}


# ----- the browser side -----

OPEN_TIMEOUT_MS = 60_000
SCROLL_TIMEOUT_MS = 180_000
STALL_MS = 20_000  # no older message arrived for this long while at the top: loading is stuck

LAST_IN_VIEW = """({chat, seq}) => {
  const root = document.querySelector(chat);
  const scroller = root && root.querySelector('.jp-CoderAgents-conversation');
  const msg = root && root.querySelector(`.jp-CoderAgents-message[data-seq="${seq}"]`);
  if (!scroller || !msg) return false;
  const a = scroller.getBoundingClientRect(), b = msg.getBoundingClientRect();
  return b.height > 0 && b.bottom > a.top && b.top < a.bottom;
}"""

DIAGNOSE = """({chat}) => {
  const root = document.querySelector(chat);
  const seqs = root
    ? [...root.querySelectorAll('.jp-CoderAgents-message[data-seq]')].map(e => +e.dataset.seq)
    : [];
  const sc = root && root.querySelector('.jp-CoderAgents-conversation');
  return {
    chat_view: !!root,
    any_chat_view: document.querySelectorAll('.jp-CoderAgents-chat').length,
    scroller: !!sc,
    scroll: sc ? [sc.scrollTop, sc.clientHeight, sc.scrollHeight] : null,
    messages_in_dom: seqs.length,
    seq_range: seqs.length ? [Math.min(...seqs), Math.max(...seqs)] : null,
  };
}"""

HEAP = """() => {
  if (window.gc) window.gc();  // --js-flags=--expose-gc: measure live objects, not garbage
  return performance.memory ? performance.memory.usedJSHeapSize : null;
}"""

MESSAGES_IN_DOM = """({chat}) =>
  document.querySelectorAll(`${chat} .jp-CoderAgents-message[data-seq]`).length"""

# Smooth scrolling would turn every scrollTop assignment into an animation; jump instead.
SCROLL_TO_TOP = """async ({chat, timeoutMs, stallMs}) => {
  const root = document.querySelector(chat);
  const sc = root.querySelector('.jp-CoderAgents-conversation');
  sc.style.scrollBehavior = 'auto';
  const first = () => root.querySelector('.jp-CoderAgents-message[data-seq="1"]');
  const minSeq = () => {
    let m = Infinity;
    for (const e of root.querySelectorAll('.jp-CoderAgents-message[data-seq]')) {
      m = Math.min(m, +e.dataset.seq);
    }
    return m;
  };
  const t0 = performance.now();
  let best = minSeq(), progress = t0, rounds = 0;
  while (!first()) {
    sc.scrollTop = 0;
    await new Promise(r => requestAnimationFrame(() => r()));
    const now = performance.now(), m = minSeq();
    if (m < best) { best = m; progress = now; rounds++; }
    if (now - progress > stallMs || now - t0 > timeoutMs) {
      return {ok: false, ms: now - t0, rounds, min_seq: best, stalled: now - progress > stallMs};
    }
  }
  return {ok: true, ms: performance.now() - t0, rounds, min_seq: 1};
}"""

# One 600 px step per animation frame down to the newest message, then at least a second of
# frames in all (so the one-message chat, which cannot scroll, still measures its frame rate).
SCROLL_DOWN_FPS = """async ({chat, lastSeq, timeoutMs}) => {
  const root = document.querySelector(chat);
  const sc = root.querySelector('.jp-CoderAgents-conversation');
  sc.style.scrollBehavior = 'auto';
  const last = `.jp-CoderAgents-message[data-seq="${lastSeq}"]`;
  const frames = [];
  const t0 = performance.now();
  let prev = t0, steps = 0, settled = 0;
  for (;;) {
    await new Promise(r => requestAnimationFrame(() => r()));
    const now = performance.now();
    frames.push(now - prev);
    prev = now;
    const atBottom = sc.scrollTop + sc.clientHeight >= sc.scrollHeight - 2;
    if (atBottom && root.querySelector(last)) {
      settled++;
      if (settled >= 10 && now - t0 >= 1000) break;
    } else {
      settled = 0;
      sc.scrollTop += 600;
      steps++;
    }
    if (now - t0 > timeoutMs) return {ok: false, ms: now - t0, steps, frames: frames.length};
  }
  const ms = performance.now() - t0;
  return {
    ok: true, ms, steps, frames: frames.length, fps: frames.length / (ms / 1000),
    worst_ms: Math.max(...frames), long_frames: frames.filter(f => f > 50).length,
  };
}"""


class BenchError(RuntimeError):
    pass


@dataclass
class Result:
    open_s: float
    in_dom_open: int
    heap_open: float | None
    top_s: float
    top_rounds: int
    fps: float
    worst_frame_ms: float
    long_frames: int
    scroll_steps: int
    heap_scrolled: float | None


def _diagnose(page: Any, chat: str) -> str:
    try:
        return str(page.evaluate(DIAGNOSE, {"chat": chat}))
    except Exception as exc:  # the page itself may be gone
        return f"(no diagnosis: {exc})"


def measure(browser: Any, lab: AgentsLab, chat_id: str, last_seq: int) -> Result:
    """Open the chat in a fresh browser context and measure it (see the module docstring)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    chat = f'.jp-CoderAgents-chat[data-chat-id="{chat_id}"]'
    item_selector = f'.jp-CoderAgents-chatItem[data-chat-id="{chat_id}"]'
    try:
        open_lab(page, lab, OPEN_TIMEOUT_MS)
        page.locator(AGENTS_TAB).click()
        item = page.locator(item_selector)
        try:
            item.wait_for(timeout=OPEN_TIMEOUT_MS)
        except PlaywrightTimeout:
            raise BenchError(
                f"the chat list shows no {item_selector} within {OPEN_TIMEOUT_MS // 1000} s "
                "after clicking the Agents tab (does the frontend render chat items with "
                "data-chat-id yet?)"
            ) from None

        started = time.perf_counter()
        item.click()
        try:
            page.wait_for_function(
                LAST_IN_VIEW, arg={"chat": chat, "seq": last_seq}, timeout=OPEN_TIMEOUT_MS
            )
        except PlaywrightTimeout:
            raise BenchError(
                f"message data-seq={last_seq} was not inside the viewport of {chat} "
                f".jp-CoderAgents-conversation within {OPEN_TIMEOUT_MS // 1000} s of the click; "
                f"DOM: {_diagnose(page, chat)}"
            ) from None
        open_s = time.perf_counter() - started
        in_dom = int(page.evaluate(MESSAGES_IN_DOM, {"chat": chat}))
        heap_open = page.evaluate(HEAP)

        top = page.evaluate(
            SCROLL_TO_TOP, {"chat": chat, "timeoutMs": SCROLL_TIMEOUT_MS, "stallMs": STALL_MS}
        )
        if not top["ok"]:
            why = "no older message loaded for" if top["stalled"] else "gave up after"
            raise BenchError(
                f"scrolling to the top: {why} {STALL_MS if top['stalled'] else SCROLL_TIMEOUT_MS}"
                f" ms; the oldest message in the DOM is data-seq={top['min_seq']} after "
                f"{top['rounds']} loads; DOM: {_diagnose(page, chat)}"
            )
        fps = page.evaluate(
            SCROLL_DOWN_FPS, {"chat": chat, "lastSeq": last_seq, "timeoutMs": SCROLL_TIMEOUT_MS}
        )
        if not fps["ok"]:
            raise BenchError(
                f"scrolling back down did not reach data-seq={last_seq} at the bottom in "
                f"{SCROLL_TIMEOUT_MS // 1000} s ({fps['steps']} steps); "
                f"DOM: {_diagnose(page, chat)}"
            )
        heap_scrolled = page.evaluate(HEAP)
        return Result(
            open_s=open_s,
            in_dom_open=in_dom,
            heap_open=heap_open,
            top_s=top["ms"] / 1000,
            top_rounds=top["rounds"],
            fps=fps["fps"],
            worst_frame_ms=fps["worst_ms"],
            long_frames=fps["long_frames"],
            scroll_steps=fps["steps"],
            heap_scrolled=heap_scrolled,
        )
    except Exception:
        FAILURE_SHOT.parent.mkdir(parents=True, exist_ok=True)
        try:
            page.screenshot(path=str(FAILURE_SHOT))
            print(f"screenshot of the failure: {FAILURE_SHOT.relative_to(REPO)}", file=sys.stderr)
        except Exception as exc:
            print(f"(no screenshot: {exc})", file=sys.stderr)
        raise
    finally:
        context.close()


def _mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value / 2**20:.1f} MB"


def _ratio(long: float | None, short: float | None) -> str:
    if long is None or short is None or short <= 0:
        return "-"
    return f"{long / short:.2f}x"


def print_table(short: Result, long: Result, count: int) -> None:
    rows = [
        ("open -> last message shown", f"{short.open_s:.2f} s", f"{long.open_s:.2f} s",
         _ratio(long.open_s, short.open_s)),
        ("messages in the DOM after open", str(short.in_dom_open), str(long.in_dom_open),
         _ratio(long.in_dom_open, short.in_dom_open)),
        ("scroll to first message", f"{short.top_s:.2f} s", f"{long.top_s:.2f} s",
         _ratio(long.top_s, short.top_s)),
        ("  older pages loaded", str(short.top_rounds), str(long.top_rounds), "-"),
        ("fps scrolling down (600 px/frame)", f"{short.fps:.1f}", f"{long.fps:.1f}",
         _ratio(long.fps, short.fps)),
        ("  steps / worst frame", f"{short.scroll_steps} / {short.worst_frame_ms:.0f} ms",
         f"{long.scroll_steps} / {long.worst_frame_ms:.0f} ms", "-"),
        ("  frames over 50 ms", str(short.long_frames), str(long.long_frames), "-"),
        ("JS heap after open", _mb(short.heap_open), _mb(long.heap_open),
         _ratio(long.heap_open, short.heap_open)),
        ("JS heap after scrolling", _mb(short.heap_scrolled), _mb(long.heap_scrolled),
         _ratio(long.heap_scrolled, short.heap_scrolled)),
    ]  # fmt: skip
    head = ("", "1 message", f"{count:,} messages", "ratio")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    for row in [head, *rows]:
        print(
            f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}  "
            f"{row[3]:>{widths[3]}}"
        )


def run_browser(lab: AgentsLab, long_id: str, short_id: str, count: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Precise (unbucketed) performance.memory, and window.gc() to measure after a GC.
        browser = launch_chromium(
            playwright, ["--enable-precise-memory-info", "--js-flags=--expose-gc"]
        )
        try:
            short = measure(browser, lab, short_id, 1)
            print(f"1 message: opened in {short.open_s:.2f} s")
            long = measure(browser, lab, long_id, count)
            print(f"{count:,} messages: opened in {long.open_s:.2f} s")
        finally:
            browser.close()
    print()
    print_table(short, long, count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=MESSAGES)
    parser.add_argument(
        "--no-browser", action="store_true", help="seed, start the server and check REST only"
    )
    parser.add_argument(
        "--serve", action="store_true", help="keep the server running until Ctrl-C afterwards"
    )
    args = parser.parse_args()
    if args.messages < PAGE:
        parser.error(f"--messages must be at least {PAGE}")

    with tempfile.TemporaryDirectory(prefix="ui_long_chat-") as tmp:
        home = Path(tmp)
        db_url = f"sqlite:///{home / 'chats.db'}"
        started = time.perf_counter()
        count = args.messages
        long_id, short_id = asyncio.run(seed(db_url, count))
        print(f"seeded {count:,} messages in {time.perf_counter() - started:.2f} s")

        fake = FakeLLM()
        fake.start()
        started = time.perf_counter()
        lab = start_agents_lab(home, fake, db_url=db_url)
        try:
            print(f"JupyterLab up in {time.perf_counter() - started:.2f} s at {lab.base_url}")
            rest = check_rest(lab, long_id, count)
            print(
                f"REST: GET chats/{{id}} {rest['chat_ms']:.0f} ms (message_count {count:,}); "
                f"last {PAGE} messages {rest['page_ms']:.0f} ms"
            )
            if not args.no_browser:
                try:
                    run_browser(lab, long_id, short_id, count)
                except BenchError as exc:
                    sys.exit(f"ui_long_chat: {exc}")
            if args.serve:
                print(f"serving {lab.lab_url()} (Ctrl-C stops)")
                try:
                    while True:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    pass
        finally:
            lab.stop()
            fake.stop()


if __name__ == "__main__":
    main()
