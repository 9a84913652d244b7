"""Connections to the knowledge base: a pool whose connections start in the configured schema."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.types.array import ListBinaryDumper
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from .config import KbConfig
from .errors import UnavailableError, from_driver


async def _configure(conn: AsyncConnection[Any]) -> None:
    """Lists go to the server in binary: the contract passes batches as arrays, and psycopg's
    default text form quotes every element (about 3 x the client CPU of a chunk set's put)."""
    conn.adapters.register_dumper(list, ListBinaryDumper)


class KbPool:
    """A psycopg pool for one KbConfig: every connection starts in its schema (the search path
    is sent at connection start, as the Rust crate does) and commits each statement unless a
    transaction is asked for. Open it with `async with KbPool(config) as pool:`."""

    def __init__(self, config: KbConfig, *, max_size: int = 16, timeout: float = 30.0) -> None:
        self.config = config
        kwargs = {**config.connect_kwargs(), "autocommit": True}
        self._pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            "",
            kwargs=kwargs,
            configure=_configure,
            min_size=1,
            max_size=max_size,
            timeout=timeout,
            open=False,
            name="aiblox-kb",
        )

    async def open(self) -> None:
        """Opens the pool and waits for its first connection."""
        try:
            await self._pool.open(wait=True, timeout=self._pool.timeout)
        except PoolTimeout:
            raise UnavailableError(
                f"no connection to the database at {self.config.target()} within {self._pool.timeout:.0f} s; "
                "is it running, and are the URL's host, port, user and password right?"
            ) from None

    async def close(self) -> None:
        await self._pool.close()

    async def __aenter__(self) -> KbPool:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A connection of the pool (autocommit), returned to it on exit."""
        try:
            async with self._pool.connection() as conn:
                yield conn
        except PoolTimeout:
            raise UnavailableError(
                f"timed out getting a database connection from the pool ({self._pool.timeout:.0f} s); "
                f"the database at {self.config.target()} may be down or every connection busy"
            ) from None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A connection in a transaction: repositories built on it write all or nothing."""
        async with self.connection() as conn:
            try:
                async with conn.transaction():
                    yield conn
            except psycopg.Error as err:
                raise from_driver(err) from err
