"""Migrations of the knowledge base, applied as the Rust runner applies them.

The same advisory lock (so Python and Rust runners started together apply each migration
once), the same history table and checksums (line-ending insensitive), the same schema version
recorded and the same compatibility rule (docs/contract-versioning.md).
"""

from __future__ import annotations

import asyncio
import enum
import json
import hashlib
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection

from . import _contract
from .config import MIGRATION_URL_ENV, KbConfig
from .errors import ConfigError, ConflictError, IncompatibleError, KbError, MigrationError, from_driver

TABLE = _contract.HISTORY_TABLE
DEFAULT_LOCK_TIMEOUT = 60.0


def checksum(sql: str) -> str:
    """SHA-256 (hex) of a migration's SQL with CRLF read as LF, as the Rust runner computes it."""
    return hashlib.sha256(sql.replace("\r\n", "\n").encode("utf-8")).hexdigest()


def lock_key(schema: str) -> int:
    """The advisory lock of a schema's migrations: the Rust runner's key."""
    digest = hashlib.sha256(f"{_contract.LOCK_KEY_PREFIX}{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class State(enum.Enum):
    UP_TO_DATE = "up_to_date"
    BEHIND = "behind"
    AHEAD_COMPATIBLE = "ahead_compatible"
    AHEAD_INCOMPATIBLE = "ahead_incompatible"
    DIVERGED = "diverged"


@dataclass(frozen=True)
class Compatibility:
    """How a database's history relates to this package's migrations."""

    state: State
    reason: str | None = None

    def allows_running(self) -> bool:
        return self.state in (State.UP_TO_DATE, State.AHEAD_COMPATIBLE)


@dataclass(frozen=True)
class AppliedMigration:
    version: int
    file_name: str
    checksum: str
    contract_version: str
    contract_fingerprint: str
    applied_at: datetime


@dataclass
class MigrationStatus:
    schema: str
    contract_version: str
    applied: list[AppliedMigration] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    unknown: list[AppliedMigration] = field(default_factory=list)
    mismatched: list[tuple[str, str, str]] = field(default_factory=list)
    compatibility: Compatibility = Compatibility(State.UP_TO_DATE)


@dataclass
class MigrationReport:
    schema: str
    applied: list[str]
    already_applied: int
    compatibility: Compatibility


def _parse(version: str) -> tuple[int, int, int] | None:
    core = re.split(r"[-+]", version, maxsplit=1)[0]
    parts = core.split(".")
    if len(parts) != 3 or not all(re.fullmatch(r"[0-9]+", part) for part in parts):
        return None
    return (int(parts[0]), int(parts[1]), int(parts[2]))


def _newer_and_compatible(theirs: str, ours: str) -> bool:
    their, our = _parse(theirs), _parse(ours)
    if their is None or our is None:
        return False
    same_line = their[0] == 0 and their[1] == our[1] if our[0] == 0 else their[0] == our[0]
    return same_line and their >= our


def assess(
    build_version: str,
    pending: list[tuple[int, str]],
    applied: list[AppliedMigration],
    unknown: list[AppliedMigration],
    mismatched: list[tuple[str, str, str]],
) -> Compatibility:
    """The compatibility rule (the Rust crate's `migrate::compat::assess`)."""
    if mismatched:
        file_name, applied_checksum, build_checksum = mismatched[0]
        return Compatibility(
            State.DIVERGED,
            f"{file_name} changed after it was applied (applied checksum {applied_checksum}, this build's "
            f"{build_checksum})",
        )
    versions = [m.version for m in applied + unknown]
    newest = max(versions) if versions else None
    if pending and newest is not None and pending[0][0] < newest:
        return Compatibility(
            State.DIVERGED,
            f"{pending[0][1]} is not applied but the newer migration version {newest} is: the histories "
            "diverged (two branches numbered migrations alike?)",
        )
    for migration in unknown:
        if not _newer_and_compatible(migration.contract_version, build_version):
            return Compatibility(
                State.AHEAD_INCOMPATIBLE,
                f"{migration.file_name} was applied by contract {migration.contract_version}, which this build "
                f"(contract {build_version}) cannot work with: a service must share the database's contract major "
                "version (minor below 1.0) and not be newer",
            )
    if unknown:
        return Compatibility(State.AHEAD_COMPATIBLE)
    return Compatibility(State.UP_TO_DATE if not pending else State.BEHIND)


class Migrator:
    """Applies this package's migrations, reports status, or checks that a block may start."""

    def __init__(self, config: KbConfig, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self.config = config
        self.lock_timeout = lock_timeout
        self.migrations = _contract.MIGRATIONS
        self.contract_version = _contract.SCHEMA_VERSION

    async def _connect(self, url: str | None) -> AsyncConnection[Any]:
        kwargs = self.config.connect_kwargs(url)
        kwargs.update(autocommit=True, application_name="aiblox-kb migrate (python)", connect_timeout=10)
        try:
            conn = await AsyncConnection.connect(**kwargs)
        except psycopg.Error as err:
            error = from_driver(err)
            error.args = (f"{error.args[0]} (database at {self.config.target(url)})",)
            raise error from None
        try:
            await conn.execute("SET client_connection_check_interval = '1s'")
        except psycopg.Error:
            pass
        return conn

    async def run(self) -> MigrationReport:
        """Applies every pending migration in order, creating the schema if needed; refuses,
        changing nothing, on divergence or a database ahead beyond the compatibility rule."""
        url = self.config.migration_url
        conn = await self._connect(url)
        try:
            await self._ensure_primary(conn, self.config.target(url))
            await self._lock(conn)
            try:
                return await self._run_locked(conn, self.config.target(url))
            finally:
                try:
                    await conn.execute("SELECT pg_advisory_unlock(%s)", (lock_key(self.config.schema),))
                except psycopg.Error:
                    pass
        except psycopg.Error as err:
            raise from_driver(err) from err
        finally:
            await conn.close()

    async def status(self) -> MigrationStatus:
        """The schema's migration state compared with this package (reads only)."""
        conn = await self._connect(None)
        try:
            return self._status_of(await self._applied(conn))
        except psycopg.Error as err:
            raise from_driver(err) from err
        finally:
            await conn.close()

    async def check(self) -> MigrationStatus:
        """The startup check of a block that does not migrate: passes when the database is up to
        date or ahead within the compatibility rule; raises IncompatibleError saying what to do."""
        conn = await self._connect(None)
        try:
            status = self._status_of(await self._applied(conn))
            compatibility = status.compatibility
            if compatibility.allows_running():
                await self._ensure_search_path(conn, self.config.target())
                return status
            if compatibility.state is State.BEHIND:
                raise self._incompatible(
                    f"{len(status.pending)} migration(s) of contract {self.contract_version} are not applied "
                    f"({', '.join(status.pending)}): run the migrations (aiblox_kb.Migrator(config).run(), "
                    "`cargo xtask migrate`, or start a service with migrations enabled)"
                )
            raise self._incompatible(compatibility.reason or compatibility.state.value)
        except psycopg.Error as err:
            raise from_driver(err) from err
        finally:
            await conn.close()

    def _incompatible(self, reason: str) -> IncompatibleError:
        return IncompatibleError(f"schema {self.config.schema}: {reason}")

    async def _run_locked(self, conn: AsyncConnection[Any], target: str) -> MigrationReport:
        await self._create(conn)
        await self._ensure_search_path(conn, target)
        status = self._status_of(await self._applied(conn))
        if status.compatibility.state in (State.DIVERGED, State.AHEAD_INCOMPATIBLE):
            raise self._incompatible(status.compatibility.reason or "")
        report = MigrationReport(self.config.schema, [], len(status.applied), status.compatibility)
        for migration in self.migrations:
            if migration.file_name in status.pending:
                await self._apply(conn, migration)
                report.applied.append(migration.file_name)
        if report.applied:
            report.compatibility = self._status_of(await self._applied(conn)).compatibility
        return report

    async def _ensure_primary(self, conn: AsyncConnection[Any], target: str) -> None:
        row = await (await conn.execute("SELECT pg_is_in_recovery()")).fetchone()
        if row is not None and row[0]:
            raise ConfigError(
                f"the database at {target} is a standby (in recovery, read-only): migrations run on the primary; "
                f"point the migration URL at the primary ({MIGRATION_URL_ENV}, else the database URL), or list "
                "every host with target_session_attrs=read-write so that the primary is chosen"
            )

    async def _ensure_search_path(self, conn: AsyncConnection[Any], target: str) -> None:
        row = await (await conn.execute("SELECT current_schema()")).fetchone()
        current = row[0] if row else None
        if current == self.config.schema:
            return
        raise ConfigError(
            f"connections to {target} do not start in schema {self.config.schema} (they start in "
            f"{current or 'no schema'}): something between here and PostgreSQL drops the search path set at "
            f"connection start, as PgBouncer does; set it on the server for the role (ALTER ROLE <role> IN "
            f"DATABASE <database> SET search_path = {self.config.schema}), or connect directly"
        )

    async def _lock(self, conn: AsyncConnection[Any]) -> None:
        """Tries the lock until the timeout, holding nothing between tries (as the Rust runner)."""
        key = lock_key(self.config.schema)
        deadline = time.monotonic() + self.lock_timeout
        pause = 0.005
        while True:
            row = await (await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))).fetchone()
            if row is not None and row[0]:
                return
            now = time.monotonic()
            if now >= deadline:
                raise ConflictError(
                    f"another runner has held the migration lock of schema {self.config.schema} for over "
                    f"{self.lock_timeout:.1f} s: {await self._lock_holder(conn, key)}; wait for it, or stop it "
                    "if it is stuck"
                )
            await asyncio.sleep(min(pause, deadline - now))
            pause = min(pause * 2, 0.2)

    async def _lock_holder(self, conn: AsyncConnection[Any], key: int) -> str:
        """Who holds the lock: pid, application name and client address of the session."""
        unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
        try:
            cursor = await conn.execute(
                "SELECT a.pid, coalesce(nullif(a.application_name, ''), '(no application_name)'), "
                "coalesce(host(a.client_addr), 'local socket'), "
                "coalesce(extract(epoch FROM now() - a.xact_start)::bigint, 0) "
                "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
                "AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid "
                "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) LIMIT 1",
                (unsigned >> 32, unsigned & 0xFFFF_FFFF),
            )
            row = await cursor.fetchone()
        except psycopg.Error as err:
            return f"the holder could not be looked up ({from_driver(err)})"
        if row is None:
            return "the holder has just released it"
        return f"pid {row[0]}, application_name {json.dumps(row[1])}, client {row[2]} (in a transaction for {row[3]} s)"

    async def _create(self, conn: AsyncConnection[Any]) -> None:
        """Creates only what is missing: CREATE ... IF NOT EXISTS wants the privilege even when
        the object exists, which a role that merely owns its schema does not have."""
        schema = self.config.schema
        row = await (
            await conn.execute("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s)", (schema,))
        ).fetchone()
        if not (row and row[0]):
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        row = await (await conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{schema}.{TABLE}",))).fetchone()
        if row and row[0]:
            return
        await conn.execute(f"CREATE TABLE IF NOT EXISTS {schema}.{TABLE} ({_contract.HISTORY_TABLE_COLUMNS})")

    async def _applied(self, conn: AsyncConnection[Any]) -> list[AppliedMigration]:
        qualified = f"{self.config.schema}.{TABLE}"
        row = await (await conn.execute("SELECT to_regclass(%s) IS NOT NULL", (qualified,))).fetchone()
        if not (row and row[0]):
            return []
        cursor = await conn.execute(
            "SELECT version, file_name, checksum, contract_version, contract_fingerprint, applied_at "
            f"FROM {qualified} ORDER BY version"
        )
        return [AppliedMigration(*found) for found in await cursor.fetchall()]

    def _status_of(self, history: list[AppliedMigration]) -> MigrationStatus:
        status = MigrationStatus(self.config.schema, self.contract_version)
        known = {m.version: m for m in self.migrations}
        for row in history:
            migration = known.get(row.version)
            if migration is None:
                status.unknown.append(row)
            elif migration.checksum == row.checksum and migration.file_name == row.file_name:
                status.applied.append(row)
            else:
                applied = (
                    row.checksum
                    if migration.file_name == row.file_name
                    else f"{row.checksum} (applied as {row.file_name})"
                )
                status.mismatched.append((migration.file_name, applied, migration.checksum))
        recorded = {row.version for row in history}
        pending = [(m.version, m.file_name) for m in self.migrations if m.version not in recorded]
        status.pending = [name for _, name in pending]
        status.compatibility = assess(self.contract_version, pending, status.applied, status.unknown, status.mismatched)
        return status

    async def _apply(self, conn: AsyncConnection[Any], migration: _contract.Migration) -> None:
        started = time.monotonic()
        if migration.outside_transaction:
            await self._statements(conn, migration)
            await self._record(conn, migration, started)
            return
        async with conn.transaction():
            await self._statements(conn, migration)
            await self._record(conn, migration, started)

    async def _statements(self, conn: AsyncConnection[Any], migration: _contract.Migration) -> None:
        for offset, statement in migration.statements:
            try:
                await conn.execute(statement.encode("utf-8"))
            except psycopg.Error as err:
                raise _migration_error(migration, offset, statement, err) from err

    async def _record(self, conn: AsyncConnection[Any], migration: _contract.Migration, started: float) -> None:
        duration_ms = min(int((time.monotonic() - started) * 1000), 2**31 - 1)
        await conn.execute(
            f"INSERT INTO {self.config.schema}.{TABLE} (version, file_name, checksum, contract_version, "
            "contract_fingerprint, duration_ms) VALUES (%s, %s, %s, %s, %s, %s)",
            (
                migration.version,
                migration.file_name,
                checksum(migration.sql),
                self.contract_version,
                _contract.FINGERPRINT,
                duration_ms,
            ),
        )


def _migration_error(
    migration: _contract.Migration, byte_offset: int, statement: str, err: psycopg.Error
) -> KbError:
    if err.sqlstate is None:
        return from_driver(err)
    sql = migration.sql
    offset = len(sql.encode("utf-8")[:byte_offset].decode("utf-8", errors="ignore"))
    position = err.diag.statement_position
    if position is not None and position.isdigit():
        offset += max(int(position) - 1, 0)
    before = sql[:offset]
    line = before.count("\n") + 1
    column = offset - (before.rfind("\n") + 1) + 1
    message = err.diag.message_primary or str(err)
    if migration.outside_transaction:
        message += (
            " (this migration runs outside a transaction: statements before this one stay applied, so it must "
            "be safe to rerun)"
        )
    line_text = sql.split("\n")[line - 1].rstrip() if line - 1 < len(sql.split("\n")) else ""
    gutter = len(str(line))
    excerpt = f"{line:>{gutter}} | {line_text}\n{'':>{gutter}} | {' ' * (column - 1)}^"
    return MigrationError(migration.file_name, line, column, f"{message}\n{excerpt}")


async def migrate(config: KbConfig) -> MigrationReport:
    """Applies the pending migrations: shorthand for Migrator(config).run()."""
    return await Migrator(config).run()
