"""Where the knowledge base is: a PostgreSQL URL and a schema, read as the Rust crate reads them."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any

from psycopg.conninfo import conninfo_to_dict

from .errors import ConfigError

DATABASE_URL_ENV = "AIBLOX_KB_DATABASE_URL"
DATABASE_URL_FALLBACK_ENV = "DATABASE_URL"
SCHEMA_ENV = "AIBLOX_KB_SCHEMA"
MIGRATION_URL_ENV = "AIBLOX_KB_MIGRATION_URL"
DEFAULT_SCHEMA = "kb"
_MAX_IDENTIFIER_BYTES = 63
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def validate_schema_name(schema: str) -> None:
    """Refuses a schema name that is not a plain lower-case identifier needing no quoting."""
    if (
        _SCHEMA_NAME.fullmatch(schema)
        and len(schema.encode()) <= _MAX_IDENTIFIER_BYTES
        and not schema.startswith("pg_")
    ):
        return
    shown = json.dumps(schema[:80], ensure_ascii=False)
    raise ConfigError(
        f"invalid schema name {shown}: use 1 to {_MAX_IDENTIFIER_BYTES} bytes of lower-case letters, digits "
        "and underscores, starting with a letter or underscore and not with `pg_`"
    )


@dataclass(frozen=True)
class KbConfig:
    """A database URL (libpq form: postgresql://user:password@host:port/dbname) and a schema.

    `migration_url`, when given, is where migrations run (a role that may create tables).
    The password never appears in `repr` or in errors.
    """

    url: str
    schema: str = DEFAULT_SCHEMA
    migration_url: str | None = None

    def __post_init__(self) -> None:
        validate_schema_name(self.schema)
        for which, url in (("database", self.url), ("migration", self.migration_url)):
            if url is None:
                continue
            try:
                conninfo_to_dict(url)
            except Exception as err:  # psycopg raises ProgrammingError with the URL's words
                raise ConfigError(
                    f"the {which} URL is not valid ({type(err).__name__}); expected "
                    "postgresql://user:password@host:port/dbname"
                ) from None

    def __repr__(self) -> str:
        return f"KbConfig(target={self.target()!r}, schema={self.schema!r})"

    @classmethod
    def from_env(cls) -> KbConfig:
        """From AIBLOX_KB_DATABASE_URL (else DATABASE_URL), AIBLOX_KB_SCHEMA (default kb) and
        AIBLOX_KB_MIGRATION_URL, as the Rust crate's `KbConfig::from_env`."""

        def setting(name: str) -> str | None:
            value = os.environ.get(name, "").strip()
            return value or None

        url = setting(DATABASE_URL_ENV) or setting(DATABASE_URL_FALLBACK_ENV)
        if url is None:
            raise ConfigError(f"set {DATABASE_URL_ENV} (or {DATABASE_URL_FALLBACK_ENV}) to the database URL")
        schema = setting(SCHEMA_ENV) or DEFAULT_SCHEMA
        try:
            validate_schema_name(schema)
        except ConfigError as err:
            raise ConfigError(f"{SCHEMA_ENV}: {err.message}") from None
        return cls(url, schema, setting(MIGRATION_URL_ENV))

    def target(self, url: str | None = None) -> str:
        """host:port of a URL, for messages (never the password)."""
        try:
            parts = conninfo_to_dict(url or self.url)
        except Exception:
            return "(invalid URL)"
        host = str(parts.get("host") or "localhost")
        return f"{host}:{parts.get('port') or 5432}"

    def connect_kwargs(self, url: str | None = None) -> dict[str, Any]:
        """Keyword arguments of psycopg's connect: the URL, and the schema as the search path
        sent at connection start (as the Rust crate does)."""
        parts: dict[str, Any] = conninfo_to_dict(url or self.url)
        search_path = f"-c search_path={self.schema}"
        existing = str(parts.get("options") or "").strip()
        parts["options"] = f"{existing} {search_path}" if existing else search_path
        return parts
