"""One-hop writes for the agent loop's hot path on SQLite.

Through aiosqlite every statement, the commit and the pool's reset on return are each a trip
to its worker thread and back; an agent step makes three such writes (two messages, a file
change), so it paid a dozen thread hand-offs per step. ``DriverWriter`` runs a whole write
transaction in one trip instead: its own ``sqlite3`` connection to the same database file,
used from one worker thread, with the engine's pragmas. It is as durable as a write through
the engine (the same journal and ``synchronous`` setting) and, in WAL mode, readers through
the engine see it once it committed. Other databases (PostgreSQL) keep the engine's path.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from .engine import sqlite_pragmas

T = TypeVar("T")


class DriverStatement:
    """A statement compiled once for one dialect and sent through the driver connection, with
    SQLAlchemy's own parameter conversions (the column types' bind processing)."""

    def __init__(self, statement: Any, dialect: Any) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self.order = list(compiled.positiontup or [])
        self.convert = dict(compiled._bind_processors)
        self.literals = dict(compiled.params)  # the statement's own values (``+ 1``)

    def params(self, values: dict[str, Any]) -> tuple[Any, ...]:
        out = []
        for k in self.order:
            value = values[k] if k in values else self.literals[k]
            out.append(self.convert[k](value) if k in self.convert else value)
        return tuple(out)


class DriverWriter:
    """Write transactions on a SQLite database file, each run whole in one worker thread."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._conn: list[sqlite3.Connection] = []  # opened in the worker thread, on first use
        weakref.finalize(self, _close, self._executor, self._conn)

    def _transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if not self._conn:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            sqlite_pragmas(conn, None)
            self._conn.append(conn)
        conn = self._conn[0]
        conn.execute("BEGIN IMMEDIATE")  # the write lock first: no upgrade from a read lock
        try:
            result = work(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(connection)`` in one transaction (committed, or rolled back if it
        raised); the writes of one writer happen in the order they were asked for."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._transaction, work)


def _close(executor: ThreadPoolExecutor, conn: list[sqlite3.Connection]) -> None:
    """Close the connection in its own thread, then let the thread end."""
    with contextlib.suppress(RuntimeError):  # the interpreter is shutting down
        executor.submit(lambda: [c.close() for c in conn])
    executor.shutdown(wait=False)


_writers: weakref.WeakKeyDictionary[AsyncEngine, DriverWriter] = weakref.WeakKeyDictionary()


def driver_writer(engine: AsyncEngine) -> DriverWriter | None:
    """The engine's one writer when it is a SQLite file database, else None."""
    if engine.dialect.name != "sqlite":
        return None
    path = engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    writer = _writers.get(engine)
    if writer is None:
        writer = _writers[engine] = DriverWriter(path)
    return writer
