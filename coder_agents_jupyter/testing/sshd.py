"""A throwaway OpenSSH server on a free loopback port, for tests and benchmarks.

Everything lives in one directory: host and client keys (made by ``ssh-keygen``), the config,
``authorized_keys``, a ``known_hosts`` that trusts the host key, and the log. Logins are for
the user running the tests, by key only. Needs ``openssh-server`` (``/usr/sbin/sshd``); as root
also ``/run/sshd``, which ``start`` creates.

    with Sshd(tmp_dir) as sshd:
        ws = SSHWorkspace(sshd.target(workdir=str(folder)))
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from ..workspaces.ssh_target import SSHTarget

# Variables sshd puts into every session (``SetEnv``): tests check which of them commands see.
SESSION_ENV: Mapping[str, str] = {
    "REMOTE_SERVICE_API_KEY": "remote-secret-api-key",
    "REMOTE_DEPLOY_TOKEN": "remote-secret-token",
    "REMOTE_DROP_ME": "remote-listed-by-admin",
    "REMOTE_KEEP_ME": "remote-kept",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
        check=True,
        capture_output=True,
    )


class Sshd:
    """One sshd process; ``start`` it, build ``target``\\ s for it, ``stop`` it."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        session_env: Mapping[str, str] = SESSION_ENV,
        max_sessions: int = 10,
        port: int = 0,
    ) -> None:
        self.dir = Path(directory)
        self.host = "127.0.0.1"
        self.port = port  # 0: a free one, picked by start
        self.user = pwd.getpwuid(os.geteuid()).pw_name
        self.host_key = self.dir / "host_ed25519"
        self.client_key = self.dir / "client_ed25519"
        self.known_hosts = self.dir / "known_hosts"
        self.log_path = self.dir / "sshd.log"
        self._session_env = dict(session_env)
        self._max_sessions = max_sessions
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def host_public_key(self) -> str:
        """The host key as a known_hosts key field ("ssh-ed25519 AAAA...")."""
        return " ".join(self.host_key.with_suffix(".pub").read_text().split()[:2])

    def known_hosts_line(self, key: str | None = None) -> str:
        return f"[{self.host}]:{self.port} {key or self.host_public_key}\n"

    def start(self) -> Sshd:
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        if not os.path.exists(sshd):
            raise RuntimeError("sshd is not installed: apt-get install openssh-server")
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation dir
        self.dir.mkdir(parents=True, exist_ok=True)
        for key in (self.host_key, self.client_key):
            if not key.exists():
                _keygen(key)
        shutil.copy(self.client_key.with_suffix(".pub"), self.dir / "authorized_keys")
        self.port = self.port or _free_port()
        self.known_hosts.write_text(self.known_hosts_line())
        set_env = " ".join(f'"{k}={v}"' for k, v in self._session_env.items())
        config = self.dir / "sshd_config"
        config.write_text(
            f"Port {self.port}\n"
            f"ListenAddress {self.host}\n"
            f"HostKey {self.host_key}\n"
            f"PidFile {self.dir / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "PermitRootLogin prohibit-password\n"
            "UsePAM no\n"
            "StrictModes no\n"  # keys under /tmp: the ownership checks would refuse them
            "AllowAgentForwarding yes\n"
            "AllowTcpForwarding yes\n"
            f"MaxSessions {self._max_sessions}\n"
            "MaxStartups 100\n"
            "Subsystem sftp internal-sftp\n" + (f"SetEnv {set_env}\n" if set_env else "")
        )
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - the child's, closed in stop
        self._proc = subprocess.Popen(
            [sshd, "-D", "-e", "-f", str(config)],
            stdout=self._log,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"sshd exited at start:\n{self.log_path.read_text()}")
            with socket.socket() as s:
                if s.connect_ex((self.host, self.port)) == 0:
                    return self
            time.sleep(0.02)
        raise RuntimeError(f"sshd did not listen within 10 s:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self._proc is None:
            return
        self.drop_connections()
        self._proc.terminate()
        try:
            self._proc.wait(5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Sshd:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def target(self, **overrides: Any) -> SSHTarget:
        """A target for this server, logging in with the client key and checking the host key."""
        fields: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "key_file": str(self.client_key),
            "known_hosts": str(self.known_hosts),
            "connect_timeout": 5,
        }
        fields.update(overrides)
        return SSHTarget(**fields)

    def connection_pids(self) -> list[int]:
        """The sshd processes serving connections (not the listener, not the users' commands)."""
        if self._proc is None:
            return []
        children: dict[int, list[int]] = {}
        names: dict[int, str] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
            names[int(entry)] = name
        found, todo = [], list(children.get(self._proc.pid, []))
        while todo:
            pid = todo.pop()
            if names.get(pid, "").startswith("sshd"):
                found.append(pid)
                todo += children.get(pid, [])
        return found

    def drop_connections(self) -> int:
        """Kill every connection's sshd processes: clients see their connections drop."""
        pids = self.connection_pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(pids)
