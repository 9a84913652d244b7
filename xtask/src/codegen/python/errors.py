"""The contract's error kinds, as the Rust crate's `aiblox_kb::Error` variants.

Messages say what happened and what to do; none holds the database password.
"""

from __future__ import annotations

import re

import psycopg


class KbError(Exception):
    """Everything that can go wrong in the contract."""

    kind = "database"
    prefix = "database error"

    def __init__(self, message: str) -> None:
        super().__init__(f"{self.prefix}: {message}")
        self.message = message


class ConfigError(KbError):
    """The configuration is invalid (bad URL, bad schema name, missing variable)."""

    kind = "config"
    prefix = "invalid configuration"


class InvalidInputError(KbError):
    """The caller's input breaks a rule of the contract; nothing was written."""

    kind = "invalid_input"
    prefix = "invalid input"


class NotFoundError(KbError):
    """Something the operation needs does not exist (a referenced row, or the schema)."""

    kind = "not_found"
    prefix = "not found"


class ConflictError(KbError):
    """A concurrent change got in the way; retrying may succeed."""

    kind = "conflict"
    prefix = "conflict"

    def __init__(self, message: str, constraint: str | None = None) -> None:
        super().__init__(message)
        self.constraint = constraint


class UnavailableError(KbError):
    """The database cannot be reached or has no connection to spare; retry later."""

    kind = "unavailable"
    prefix = "database unavailable"


class MigrationError(KbError):
    """A migration could not be applied; it was rolled back."""

    kind = "migration"

    def __init__(self, file: str, line: int, column: int, message: str) -> None:
        Exception.__init__(self, f"migration {file} failed at line {line}, column {column}: {message}")
        self.message = message
        self.file = file
        self.line = line
        self.column = column


class IncompatibleError(KbError):
    """The database's contract and this package's cannot work together."""

    kind = "incompatible"
    prefix = "incompatible contract"


class DatabaseError(KbError):
    """Any other error the database reported, with its SQLSTATE."""

    kind = "database"
    prefix = "database error"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class InternalError(KbError):
    """A bug of the contract package: please report it."""

    kind = "internal"
    prefix = "internal error of aiblox-kb (please report it)"


_CONFLICTS = {"23505", "40001", "40P01", "55P03"}


def from_driver(err: psycopg.Error) -> KbError:
    """The contract's error for a driver error, mapped by SQLSTATE as the Rust crate maps it."""
    code = err.sqlstate
    if code is None:
        if isinstance(err, (psycopg.DataError, psycopg.ProgrammingError)):
            # Refused by the driver before anything was sent (a NUL in text, a value it cannot
            # send): the input's fault, as the server's data exceptions are.
            return InvalidInputError(_without_password(str(err)).strip())
        return UnavailableError(_without_password(str(err)).strip())
    diag = err.diag
    message = diag.message_primary or str(err)
    if diag.message_detail:
        message = f"{message} ({diag.message_detail})"
    category = code[:2]
    if code in _CONFLICTS:
        return ConflictError(message, diag.constraint_name)
    if code == "23503":
        return NotFoundError(message)
    if category == "28":
        return UnavailableError(
            f"{message}; check the user and password of the database URL, its sslmode, and the server's pg_hba.conf"
        )
    if category in ("08", "53", "57"):
        return UnavailableError(message)
    if category in ("22", "23", "54"):
        return InvalidInputError(message)
    if code in ("42P01", "3F000"):
        return NotFoundError(
            f"{message}: the configured schema is missing or not migrated; run the migrations "
            "(aiblox_kb.Migrator(config).run(), or `cargo xtask migrate`) or check AIBLOX_KB_SCHEMA"
        )
    if code == "42501":
        message = (
            f"{message}: the database role lacks this privilege (a reader role such as kb_reader "
            "cannot write items; docs/operations.md names each role's grants)"
        )
    elif code == "26000":
        message = (
            f"{message}: the contract prepares statements once per connection, which a connection pooler "
            "in transaction mode does not keep; use session mode or a direct connection (docs/operations.md)"
        )
    elif code in ("42703", "42883"):
        message = f"{message}: the schema does not match this version of aiblox-kb; run the migrations"
    return DatabaseError(code, message)


def _without_password(text: str) -> str:
    """Driver messages may echo a connection string: drop any password=... part."""
    return re.sub(r"password=\S+", "password=***", text)
