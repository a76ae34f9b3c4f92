"""Fixtures shared by every suite: a throwaway PostgreSQL server."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A trust-auth PostgreSQL on a free loopback port; yields a URL without a database."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    assert bins, "PostgreSQL is not installed: run `python3 setup_jupyter.py test`"
    bindir = os.path.dirname(bins[-1])
    pg = pwd.getpwnam("postgres")
    root = tempfile.mkdtemp(prefix="coder-agents-pg-")
    os.chown(root, pg.pw_uid, pg.pw_gid)  # pytest's tmp dirs are closed to other users
    port = _free_port()

    def as_postgres(*args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True)

    as_postgres(
        f"{bindir}/initdb",
        "-D",
        f"{root}/data",
        "-U",
        "postgres",
        "-A",
        "trust",
        "-E",
        "UTF8",
        "--no-locale",
    )
    as_postgres(
        f"{bindir}/pg_ctl",
        "-D",
        f"{root}/data",
        "-l",
        f"{root}/log",
        "-w",
        "-o",
        f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off",
        "start",
    )
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}"
    finally:
        as_postgres(f"{bindir}/pg_ctl", "-D", f"{root}/data", "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A fresh, empty database on the session's PostgreSQL server."""
    name = f"t{os.urandom(6).hex()}"
    port = postgres_server.rsplit(":", 1)[1]
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-c", f"create database {name}"],
        check=True,
        capture_output=True,
    )
    return f"{postgres_server}/{name}"
