"""Overhead of the control plane's agent loop against a minimal direct script.

Both sides run the same scripted 200-step session against the fake Anthropic vendor (in its
own process): each step is one streamed model call through the official SDK, then one tool
call in a local folder (a command, a file write or a file read, in turn). Both send the same
requests (the system prompt and tools the control plane offers, taken from it) and write
files the same way (temp file, fsync, rename: what the tool and Jupyter's own saves do). The
control plane adds what makes it durable and observable: the store (each step's messages in
one transaction, written while the vendor works on the next call; a change-review record per
file write), the event bus, tool validation, diffs and bounded results.

Rounds alternate the sides, each round one run of each, back to back. This machine's speed
drifts by up to twice from minute to minute, so the ratio is the median of the rounds' ratios:
each compares two runs made at nearly the same speed (the best run of each side is printed
too, but a lucky round of one side pairs badly with an ordinary one of the other). The fake
vendor keeps only its last few requests (a growing history would slow it down round by round).

The workspace folders are in memory (/dev/shm) unless ``--files`` says otherwise: both sides
make the same 67 fsyncs, and a virtual disk's fsync latency (1-10 ms, varying from run to run)
would otherwise drown what is measured. (On a memory filesystem the control plane writes small
files in place; in a folder on a disk it hands each write to a thread, so that an fsync never
stalls the server.) The database stays on disk. The last line is the median ratio.

    .venv/bin/python bench/loop_overhead.py [--steps 200] [--rounds 9] [--files DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import anthropic

from coder_agents_jupyter.agent.loop import ChatRun
from coder_agents_jupyter.agent.prompts import DEFAULT_SYSTEM_PROMPT
from coder_agents_jupyter.agent.runtime import Runtime
from coder_agents_jupyter.db import Caller, Store, connect
from coder_agents_jupyter.events import EventBus
from coder_agents_jupyter.llm.anthropic import build_params
from coder_agents_jupyter.llm.registry import make_provider
from coder_agents_jupyter.settings import build_settings
from coder_agents_jupyter.testing.fake_provider import (
    FakeLLM,
    reply,
    text,
    tool_call,
    turn_tool_results,
)

STEPS = 200


def scripted_step(request: dict[str, Any]) -> Any:
    """Step n of the session: a tool call chosen by n, then a final answer."""
    n = len(turn_tool_results(request))
    if n >= STEPS:
        return reply(text("Done."))
    if n % 3 == 0:
        return reply(tool_call("execute", {"command": f"echo step {n}"}))
    if n % 3 == 1:
        return reply(
            tool_call("write_file", {"path": f"f{n % 10}.txt", "content": f"line {n}\n" * 20})
        )
    return reply(tool_call("read_file", {"path": f"f{(n - 1) % 10}.txt"}))


def serve(steps: int, port_out: Any) -> None:
    global STEPS
    STEPS = steps
    fake = FakeLLM(keep_requests=10)
    fake.script("default", scripted_step)
    fake.start()
    port_out.put(fake.base_url)
    while True:
        time.sleep(3600)


async def runtime(base_url: str, workdir: Path, db: Path, steps: int) -> Runtime:
    engine = await connect(f"sqlite:///{db}")
    bus = EventBus()
    store = Store(engine, bus)
    settings = build_settings(
        providers=[
            {"name": "fake", "type": "anthropic", "base_url": base_url, "api_key_env": "BENCH_KEY"}
        ],
        models=[
            {
                "id": "bench",
                "provider": "fake",
                "context_window": 10_000_000,
                "max_output_tokens": 4096,
                "default": True,
            }
        ],
        system_prompt=DEFAULT_SYSTEM_PROMPT,
        admin_users=[],
        limits={"max_steps_per_turn": steps + 10},
        environ={"BENCH_KEY": "bench"},
    )
    return Runtime(
        store=store,
        bus=bus,
        settings=settings,
        provider_factory=make_provider,
        root_dir=str(workdir),
    )


async def close(rt: Runtime) -> None:
    await rt.aclose()
    rt.store.close()
    await rt.store.engine.dispose()


async def offered(base_url: str, workdir: Path, db: Path) -> tuple[Any, Any]:
    """The system prompt and tools the control plane sends with every step, so that the
    direct script makes the same SDK calls."""
    rt = await runtime(base_url, workdir, db, 1)
    chat = await rt.store.create_chat(
        Caller("bench"), [{"type": "text", "text": "x"}], model="bench"
    )
    run = ChatRun(rt, chat.id)
    params = build_params(await run._request(await run._model()), prompt_caching=True)
    await close(rt)
    return params["system"], params["tools"]


async def control_plane(base_url: str, workdir: Path, db: Path, steps: int) -> float:
    rt = await runtime(base_url, workdir, db, steps)
    store, bus = rt.store, rt.bus
    _, listener = bus.subscribe("x")  # a live subscriber, as the UI would have
    chat = await store.create_chat(
        Caller("bench"), [{"type": "text", "text": "bench cp"}], model="bench"
    )
    bus.unsubscribe("x", listener)
    _, listener = bus.subscribe(chat.id)
    await store.claim("bench", 1)
    rt.provider("fake")  # created once per server, like the direct script's client
    started, cpu = time.perf_counter(), time.process_time()
    await ChatRun(rt, chat.id).run()
    elapsed = time.perf_counter() - started
    print(f"  control plane cpu {time.process_time() - cpu:.2f}s")
    final = await store.get_chat(Caller("bench"), chat.id)
    assert final.status == "waiting", final.error
    assert final.message_count == 2 * steps + 2, final.message_count
    await close(rt)
    return elapsed


async def direct(base_url: str, workdir: Path, steps: int, system: Any, tools: Any) -> float:
    """The same SDK calls and file/command operations, with nothing else."""
    client = anthropic.AsyncAnthropic(base_url=base_url, api_key="bench")
    messages: list[dict[str, Any]] = [{"role": "user", "content": "bench direct"}]
    started, cpu = time.perf_counter(), time.process_time()
    while True:
        stream = await client.messages.create(
            model="bench",
            max_tokens=4096,
            system=system,
            messages=messages,
            tools=tools,
            stream=True,
        )
        blocks: list[dict[str, Any]] = []
        partial = ""
        async for event in stream:
            if event.type == "content_block_start":
                blocks.append(event.content_block.model_dump(exclude_none=True))
                partial = ""
            elif event.type == "content_block_delta":
                if event.delta.type == "text_delta":
                    blocks[-1]["text"] += event.delta.text
                elif event.delta.type == "input_json_delta":
                    partial += event.delta.partial_json
            elif event.type == "content_block_stop" and blocks[-1]["type"] == "tool_use":
                blocks[-1]["input"] = json.loads(partial or "{}")
        messages.append({"role": "assistant", "content": blocks})
        calls = [b for b in blocks if b["type"] == "tool_use"]
        if not calls:
            break
        results = []
        for call in calls:
            args = call["input"]
            if call["name"] == "execute":
                proc = await asyncio.create_subprocess_shell(
                    args["command"],
                    cwd=workdir,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                    stdin=asyncio.subprocess.DEVNULL,
                )
                out, _ = await proc.communicate()
                result = f"exit {proc.returncode}\n{out.decode()}"
            elif call["name"] == "write_file":
                target = workdir / args["path"]
                tmp = target.with_name(f".{target.name}.tmp")
                # durable like Jupyter's own saves and the tool's
                with open(tmp, "w") as f:  # noqa: ASYNC230 (the direct script blocks, on purpose)
                    f.write(args["content"])
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, target)
                result = f"wrote {len(args['content'])} bytes"
            else:
                lines = (workdir / args["path"]).read_text().splitlines()
                result = "\n".join(f"{i:6}\t{ln}" for i, ln in enumerate(lines, 1))
            results.append({"type": "tool_result", "tool_use_id": call["id"], "content": result})
        messages.append({"role": "user", "content": results})
    elapsed = time.perf_counter() - started
    print(f"  direct cpu {time.process_time() - cpu:.2f}s")
    assert len(messages) == 2 * steps + 2, len(messages)
    await client.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument(
        "--files",
        default="/dev/shm" if os.path.isdir("/dev/shm") else None,
        help="where the workspace folders go (default: memory, see above)",
    )
    args = parser.parse_args()
    gc.freeze()  # as the server does once it has started (extension.py)
    ctx = mp.get_context("spawn")
    port_out = ctx.Queue()
    server = ctx.Process(target=serve, args=(args.steps, port_out), daemon=True)
    server.start()
    base_url = port_out.get(timeout=30)
    best_cp = best_direct = float("inf")
    ratios: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        system, tools = asyncio.run(offered(base_url, Path(tmp), Path(tmp, "offered.db")))
    try:
        for r in range(args.rounds):
            with (
                tempfile.TemporaryDirectory(dir=args.files) as files,
                tempfile.TemporaryDirectory() as tmp,
            ):
                work_a, work_b = Path(files, "a"), Path(files, "b")
                work_a.mkdir()
                work_b.mkdir()
                d = asyncio.run(direct(base_url, work_b, args.steps, system, tools))
                c = asyncio.run(control_plane(base_url, work_a, Path(tmp, "bench.db"), args.steps))
            best_cp, best_direct = min(best_cp, c), min(best_direct, d)
            ratios.append(c / d)
            print(
                f"round {r + 1}: control plane {c:.2f}s, direct {d:.2f}s ({args.steps} steps): "
                f"{c / d:.2f}"
            )
    finally:
        server.terminate()
    print(
        f"best: control plane {best_cp:.2f}s ({best_cp / args.steps * 1000:.1f} ms/step), "
        f"direct {best_direct:.2f}s ({best_direct / args.steps * 1000:.1f} ms/step)"
    )
    print(f"rounds' ratios: {min(ratios):.2f} to {max(ratios):.2f}")
    print(f"ratio: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
