"""Throughput of ``agents.batch`` against a real server and the fake vendor.

A ``jupyter server`` with the extension (SQLite store, local workspace) answers the Python
client; the fake Anthropic vendor, in its own process, answers every model call at once with a
short text. Each level runs the same number of one-turn prompts through ``agents.batch`` at a
concurrency of 1, 8 and 32 (the server may run 32 chats at once) and prints the prompts per
second and the server's CPU share (its CPU seconds over the wall time: 100% = one core busy).
A short warm-up batch runs first. The last line sums the levels up.

    .venv/bin/python bench/batch_throughput.py [--prompts 200] [--levels 1,8,32]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from coder_agents_jupyter import Agents
from coder_agents_jupyter.testing.fake_provider import FakeLLM, reply, text
from coder_agents_jupyter.testing.jupyter import JupyterProcess


def serve(port_out: Any) -> None:
    fake = FakeLLM(keep_requests=10)
    fake.script("default", lambda body: reply(text("Done: the answer is 42.")))
    fake.start()
    port_out.put(fake.base_url)
    while True:
        time.sleep(3600)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its children so far."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        proc = psutil.Process(pid)
        total = sum(proc.cpu_times()[:2])
        for child in proc.children(recursive=True):
            try:
                total += sum(child.cpu_times()[:2])
            except psutil.NoSuchProcess:
                pass
        return float(total)
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / ticks


def run_level(agents: Agents, pid: int, prompts: int, concurrency: int, tag: str) -> dict[str, Any]:
    batch = [f"Prompt {tag}-{i}: summarise item {i}." for i in range(prompts)]
    cpu0, client0, t0 = cpu_seconds(pid), time.process_time(), time.perf_counter()
    table = agents.batch(batch, concurrency=concurrency, progress=False)
    wall = time.perf_counter() - t0
    server_cpu = cpu_seconds(pid) - cpu0
    client_cpu = time.process_time() - client0
    statuses = list(table["status"]) if hasattr(table, "columns") else [r["status"] for r in table]
    failed = [s for s in statuses if s != "done"]
    assert not failed, f"{len(failed)} prompts did not finish: {sorted(set(failed))}"
    return {
        "concurrency": concurrency,
        "wall": wall,
        "rate": prompts / wall,
        "server_share": server_cpu / wall,
        "client_share": client_cpu / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--levels", default="1,8,32")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]

    ctx = mp.get_context("spawn")
    port_out = ctx.Queue()
    vendor = ctx.Process(target=serve, args=(port_out,), daemon=True)
    vendor.start()
    base_url = port_out.get(timeout=30)

    with tempfile.TemporaryDirectory(prefix="batch-bench-") as folder:
        server = JupyterProcess(
            Path(folder),
            {
                "providers": [
                    {
                        "name": "fake",
                        "type": "anthropic",
                        "base_url": base_url,
                        "api_key_env": "BENCH_KEY",
                    }
                ],
                "models": [{"id": "bench", "provider": "fake", "default": True}],
                "limits": {"max_concurrent_chats": max(levels)},
            },
            env={"BENCH_KEY": "sk-bench"},
        )
        server.start()
        try:
            assert server.proc is not None
            pid = server.proc.pid
            agents = Agents(server.url, server.token)
            run_level(agents, pid, min(20, args.prompts), 4, "warmup")
            print(f"{args.prompts} one-turn prompts per level, fake vendor answering at once")
            print(
                f"{'concurrency':>11}  {'wall s':>7}  {'prompts/s':>9}  {'server CPU':>10}  "
                f"{'client CPU':>10}"
            )
            results = []
            for level in levels:
                r = run_level(agents, pid, args.prompts, level, f"c{level}")
                results.append(r)
                print(
                    f"{level:>11}  {r['wall']:>7.2f}  {r['rate']:>9.1f}  "
                    f"{r['server_share']:>9.0%}  {r['client_share']:>9.0%}"
                )
            agents.close()
        finally:
            server.stop()
            vendor.terminate()
    summary = "  ".join(
        f"c{r['concurrency']}={r['rate']:.1f}/s (server CPU {r['server_share']:.0%})"
        for r in results
    )
    print(f"prompts/s: {summary}")


if __name__ == "__main__":
    main()
