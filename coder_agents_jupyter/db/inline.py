"""Hot-path writes on SQLite, done in place on the event loop thread.

Every agent step appends two messages and may record a file change. Through aiosqlite each of
those transactions costs about half a millisecond of CPU (thread hand-offs for every statement,
a pool checkout and a rollback on checkin) and competes with the loop for the GIL; the same
transaction on a plain ``sqlite3`` connection takes a few tens of microseconds. So on SQLite
the store tries these short writes here first. It never waits: if another connection holds the
write lock (an API request's transaction spans awaits), ``run`` answers None at once and the
caller takes the ordinary async path, which waits its turn. PostgreSQL always takes that path.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import ClauseElement


class DriverStatement:
    """A statement compiled once for a dialect, with its parameters converted by the columns'
    own bind processing (JSON, datetimes), ready for the DB-API driver."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self.order = list(compiled.positiontup or [])
        self.convert = dict(compiled._bind_processors)
        # literals the statement carries as anonymous parameters (``coalesce(x, 0)``)
        self.fixed = {k: b.value for k, b in compiled.binds.items() if not b.required}

    def params(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        out = []
        for k in self.order:
            v = values[k] if k in values else self.fixed[k]
            out.append(self.convert[k](v) if k in self.convert else v)
        return tuple(out)


class InlineWriter:
    """A second connection to the same SQLite file for short transactions that must not wait."""

    def __init__(self, path: str, dialect: Dialect) -> None:
        self.dialect = dialect
        # check_same_thread off: only the loop's thread writes, but shutdown may close it
        # from another one.
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout=0")  # busy means "take the async path"
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        # Checkpoints (an fsync and a copy of the log) are left to the pool's connections,
        # which run them off the loop thread.
        self._conn.execute("PRAGMA wal_autocheckpoint=0")

    @classmethod
    def for_engine(cls, engine: AsyncEngine) -> InlineWriter | None:
        url = engine.url
        if engine.dialect.name != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        return cls(url.database, engine.dialect)

    def compile(self, statement: ClauseElement) -> DriverStatement:
        return DriverStatement(statement, self.dialect)

    def run(
        self, steps: Sequence[tuple[DriverStatement, Mapping[str, Any]]]
    ) -> list[tuple[Any, ...] | None] | None:
        """Run ``steps`` in one transaction; each statement's first row (or None). None when
        the database is busy: nothing was written. Any other failure is rolled back and
        raised."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED"):
                return None
            raise
        try:
            rows = [self._conn.execute(s.sql, s.params(v)).fetchone() for s, v in steps]
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        return rows

    def close(self) -> None:
        self._conn.close()
