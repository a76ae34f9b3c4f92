"""Overhead of the workspace tools over SSH against raw asyncssh calls on the same connection.

A throwaway sshd (``testing.sshd.Sshd``) serves a temp folder on loopback, so the network costs
nearly nothing and what is measured is the work each side does per call (mostly asyncssh's
per-packet cost: each SFTP request and reply is a packet). Each case runs the tool through
``invoke_tool`` with a real ``ToolContext`` on an ``SSHWorkspace``, against two raw asyncssh
baselines on the workspace's own connection:

                tool                         bare raw call              same work, raw
    read_file   read a 60-line text file     open + read + close        stat, then bare
    write_file  overwrite a 60-line file     open + write + close       stat, read the old
                                                                        content, write a temp
                                                                        file + chmod + fsync,
                                                                        rename over the file
    execute     `true`                       conn.run("true")           (same as bare)

The target, and the last line (``ratio: 1.10``), is the worst ratio against the same-work
baseline: raw calls doing, one awaited call at a time, what the tool's contract requires.
read_file stats first, to refuse directories, pipes (opening a FIFO would hang the
sftp-server) and huge files before opening them. write_file reads the old content for the
diff it returns and the change review, and replaces the file atomically and durably, keeping
its mode. The bare column is printed for transparency: it is the least anything can do, and
for write_file it is not comparable: a plain open + write + close truncates the file in place
(a crash or a concurrent reader sees it half-written) and is not synced to disk, and it skips
the read of the old content; the tool costs about three times that here (the stat, the read of
the old content, the chmod, the fsync and the rename are requests of their own). The tool
sends independent requests together where the same-work baseline awaits each in turn, so it
may come out below 1. A breakdown shows the workspace calls write_file makes.

Rounds alternate the sides in short batches (``--calls`` calls, a quarter of that for
execute), in turn forward and backward so that drift of the machine's speed hits all sides
alike; each side's time is the median of its batches.

    .venv/bin/python bench/ssh_overhead.py [--calls 20] [--rounds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncssh

from coder_agents_jupyter.testing.sshd import Sshd
from coder_agents_jupyter.tools.base import ToolContext, invoke_tool
from coder_agents_jupyter.tools.workspace_tools import WORKSPACE_TOOLS
from coder_agents_jupyter.workspaces.ssh import SSHWorkspace

TOOLS = {t.name: t for t in WORKSPACE_TOOLS}
TEXT = "".join(f"line {i}: source code of moderate width, like most files\n" for i in range(60))


async def per_call(fn: Callable[[], Awaitable[Any]], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        await fn()
    return (time.perf_counter() - start) / calls


async def main(calls: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, Sshd(Path(tmp) / "sshd") as sshd:
        folder = Path(tmp) / "ws"
        folder.mkdir()
        (folder / "r.txt").write_text(TEXT)
        (folder / "w.txt").write_text(TEXT)
        (folder / "raw_w.txt").write_text(TEXT)
        ws = SSHWorkspace(sshd.target(workdir=str(folder)))

        async def get_workspace() -> SSHWorkspace:
            return ws

        async def save_attachment(name: str, media_type: str, data: bytes) -> str:
            return "att"

        ctx = ToolContext(
            chat_id="bench", owner="bench", get_workspace=get_workspace,
            save_attachment=save_attachment,
        )  # fmt: skip
        await ws.connect()
        link = ws._link  # the workspace's own connection: same transport for both sides
        assert link is not None and link.sftp is not None
        conn, sftp = link.conns[0], link.sftp
        raw_read_path, raw_write_path = str(folder / "r.txt"), str(folder / "raw_w.txt")

        async def tool(name: str, **args: Any) -> None:
            result = await invoke_tool(TOOLS, name, args, ctx)
            assert not result.is_error, result.content

        async def raw_read() -> None:
            async with sftp.open(raw_read_path, "rb") as f:
                assert len(await f.read()) == len(TEXT)

        async def raw_write() -> None:
            async with sftp.open(raw_write_path, "wb") as f:
                await f.write(TEXT.encode())

        async def raw_run() -> None:
            result = await conn.run("true", stdin=asyncssh.DEVNULL)
            assert result.exit_status == 0

        async def same_work_read() -> None:
            attrs = await sftp.stat(raw_read_path)
            assert attrs.type == asyncssh.FILEXFER_TYPE_REGULAR
            await raw_read()

        async def same_work_write() -> None:
            await sftp.stat(raw_write_path)
            async with sftp.open(raw_write_path, "rb") as f:
                await f.read()
            tmp = raw_write_path + ".tmp"
            async with sftp.open(tmp, "wb") as f:
                await f.write(TEXT.encode())
                await f.chmod(0o644)
                await f.fsync()
            await sftp.posix_rename(tmp, raw_write_path)

        cases = [
            ("read_file", lambda: tool("read_file", path="r.txt"), raw_read, same_work_read),
            (
                "write_file",
                lambda: tool("write_file", path="w.txt", content=TEXT),
                raw_write,
                same_work_write,
            ),
            ("execute true", lambda: tool("execute", command="true"), raw_run, raw_run),
        ]
        print(f"{'':13} {'tool':>9} {'bare raw':>9} {'ratio':>6}   {'same work':>9} {'ratio':>6}")
        bare_ratios, same_ratios = [], []
        for name, tool_call, bare_call, same_call in cases:
            n = calls if name != "execute true" else max(2, calls // 4)
            # execute's two baselines are one function: measured once, shown in both columns
            sides = [tool_call, bare_call] + ([same_call] if same_call is not bare_call else [])
            times = await measure(sides, n, rounds)
            t, b, w = times[0], times[1], times[-1]
            bare_ratios.append((t / b, name))
            same_ratios.append((t / w, name))
            print(
                f"{name:13} {t * 1000:6.2f} ms {b * 1000:6.2f} ms {t / b:6.2f}   "
                f"{w * 1000:6.2f} ms {t / w:6.2f}"
            )
        print("where write_file's time goes (the workspace calls it makes, each alone):")
        data = TEXT.encode()
        parts: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("stat", lambda: ws.stat("w.txt")),
            ("read_bytes (old content)", lambda: ws.read_bytes("w.txt", len(data))),
            ("write_files_atomic", lambda: ws.write_files_atomic({"w.txt": data})),
        ]
        for (label, _), seconds in zip(
            parts, await measure([fn for _, fn in parts], calls, max(5, rounds // 4)), strict=True
        ):
            print(f"  {label:26} {seconds * 1000:6.2f} ms")
        await ws.aclose()
        worst_bare, bare_name = max(bare_ratios)
        print(f"worst against the bare calls (not the target): {bare_name} {worst_bare:.2f}")
        worst, name = max(same_ratios)
        print(f"worst against the same work: {name}")
        print(f"ratio: {worst:.2f}")


async def measure(
    sides: list[Callable[[], Awaitable[Any]]], calls: int, rounds: int
) -> list[float]:
    """Median seconds per call of each side, over ``rounds`` batches of ``calls`` calls."""
    times: list[list[float]] = [[] for _ in sides]
    for fn in sides:
        await per_call(fn, 5)  # warm up
    order = list(range(len(sides)))
    for _ in range(rounds):
        for i in order:
            times[i].append(await per_call(sides[i], calls))
        order.reverse()
    return [statistics.median(x) for x in times]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20, help="calls per batch")
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.rounds))
