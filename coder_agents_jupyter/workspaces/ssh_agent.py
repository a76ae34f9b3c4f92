"""A minimal in-process ssh-agent: lends keys to an SSH workspace without writing them anywhere.

asyncssh forwards the workspace's agent requests (``git push`` over SSH on the remote host) to a
local UNIX socket (``agent_forwarding=<path>``). Instead of starting a system ``ssh-agent`` and
``ssh-add``-ing the admin's keys into it, this serves them from memory on a socket in a private
(0700) directory, for as long as the connection lives. Only what a forwarded agent needs is
implemented: listing identities and signing (draft-miller-ssh-agent, sections 3.4 and 3.6);
every other request (adding keys, locking, extensions) gets SSH_AGENT_FAILURE.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import struct
import tempfile
from collections.abc import Sequence

import asyncssh

log = logging.getLogger(__name__)

_FAILURE = 5
_REQUEST_IDENTITIES = 11
_IDENTITIES_ANSWER = 12
_SIGN_REQUEST = 13
_SIGN_RESPONSE = 14
_RSA_SHA2_256 = 2
_RSA_SHA2_512 = 4
_MAX_MESSAGE = 256 * 1024  # OpenSSH's own agent limit


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _take_string(buf: bytes, pos: int) -> tuple[bytes, int]:
    (n,) = struct.unpack_from(">I", buf, pos)
    end = pos + 4 + n
    if end > len(buf):
        raise ValueError("truncated string")
    return buf[pos + 4 : end], end


def load_agent_keys(paths: Sequence[str]) -> list[asyncssh.SSHKey]:
    """Read unencrypted private keys; a ValueError names the file that could not be used."""
    keys = []
    for path in paths:
        try:
            keys.append(asyncssh.read_private_key(os.path.expanduser(path)))
        except (OSError, asyncssh.KeyImportError) as exc:
            raise ValueError(f"cannot load the agent key {path}: {exc}") from None
    return keys


class KeyAgent:
    """Serves ``keys`` on a UNIX socket; ``path`` is set once ``start`` returned."""

    def __init__(self, keys: Sequence[asyncssh.SSHKey]) -> None:
        self._keys = {key.public_data: key for key in keys}
        self._dir: str | None = None
        self._server: asyncio.Server | None = None
        self.path: str | None = None

    async def start(self) -> str:
        self._dir = tempfile.mkdtemp(prefix="coder-agents-agent-")  # mode 0700
        self.path = os.path.join(self._dir, "agent.sock")
        self._server = await asyncio.start_unix_server(self._serve, self.path)
        return self.path

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                (length,) = struct.unpack(">I", await reader.readexactly(4))
                if not 0 < length <= _MAX_MESSAGE:
                    break
                reply = self._handle(await reader.readexactly(length))
                writer.write(struct.pack(">I", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the remote client is done
        finally:
            writer.close()

    def _handle(self, message: bytes) -> bytes:
        kind = message[0]
        if kind == _REQUEST_IDENTITIES:
            body = [struct.pack(">BI", _IDENTITIES_ANSWER, len(self._keys))]
            for blob, key in self._keys.items():
                body += [_string(blob), _string(key.get_comment_bytes() or b"")]
            return b"".join(body)
        if kind == _SIGN_REQUEST:
            try:
                blob, pos = _take_string(message, 1)
                data, pos = _take_string(message, pos)
                (flags,) = struct.unpack_from(">I", message, pos)
                key = self._keys.get(blob)
                if key is None:
                    return bytes([_FAILURE])
                return bytes([_SIGN_RESPONSE]) + _string(key.sign(data, _sig_algorithm(key, flags)))
            except (ValueError, struct.error):
                log.debug("bad agent sign request", exc_info=True)
                return bytes([_FAILURE])
        return bytes([_FAILURE])


def _sig_algorithm(key: asyncssh.SSHKey, flags: int) -> bytes:
    # For RSA the client picks the hash through flags; other key types have one algorithm.
    if key.algorithm == b"ssh-rsa":
        if flags & _RSA_SHA2_512:
            return b"rsa-sha2-512"
        if flags & _RSA_SHA2_256:
            return b"rsa-sha2-256"
        return b"ssh-rsa"
    return key.sig_algorithms[0]
