"""The repositories: ItemRepo and ChunkCacheRepo, with the Rust crate's public methods and rules.

Each takes a KbPool (a connection per call) or a connection (the caller's transaction). Every
write's own statement is the contract's SQL; what the database computes (the lexical index,
postings, chunk validity) it computes for Python writers as for Rust ones.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Union

import psycopg
from psycopg import AsyncConnection

from . import _queries as q
from ._text import ALPHANUMERIC, WHITESPACE
from .errors import ConflictError, InternalError, InvalidInputError, from_driver
from .models import (
    MAX_PAGES,
    ChunkSetTerms,
    ChunkTerms,
    ItemDigest,
    KbChunkCache,
    KbItem,
    NewChunkSet,
    NewItem,
    RankedItem,
    SearchHit,
    UpsertOutcome,
    UpsertStatus,
    content_hash,
)
from .pool import KbPool

Executor = Union[KbPool, AsyncConnection[Any]]

MAX_SOURCE_BYTES = 256
MAX_EXTERNAL_ID_BYTES = 1024
MAX_IDS_DELETED = 10_000
MAX_KEYS_LISTED = 10_000
MAX_SEARCH_LIMIT = 1000
MAX_SOURCES_ASKED = 1_000
MAX_QUESTION_WORDS = 32
MAX_HEADS = 10_000
MAX_CHUNKER_KEY_BYTES = 256
MAX_STORED = 2**31 - 1
MERGE_FRESH_ITEMS_PER_STEP = 25_000
MERGE_TERMS_PER_STEP = 500


@asynccontextmanager
async def _connection(executor: Executor) -> AsyncIterator[AsyncConnection[Any]]:
    """The executor's connection; driver errors become the contract's."""
    try:
        if isinstance(executor, KbPool):
            async with executor.connection() as conn:
                yield conn
        else:
            yield executor
    except psycopg.Error as err:
        raise from_driver(err) from err
    except UnicodeEncodeError as err:
        raise InvalidInputError(f"a text holds a character UTF-8 cannot encode ({err.reason}: a lone surrogate?)") from None


def _item(row: q.ItemRow | q.ItemHitRow) -> KbItem:
    try:
        metadata = json.loads(row.metadata)
    except ValueError as err:
        raise InternalError(f"stored metadata of item {row.id} is not JSON: {err}") from None
    return KbItem(
        id=row.id,
        source=row.source,
        external_id=row.external_id,
        title=row.title,
        content=row.content,
        content_hash=row.content_hash,
        metadata=metadata,
        page_starts=row.page_starts,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class ItemRepo:
    """Items: written in batches, read by id or key, searched, deleted."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    async def upsert(self, items: Sequence[NewItem]) -> list[UpsertOutcome]:
        """Inserts or updates a batch in one statement; unchanged items are not written."""
        if not items:
            return []
        metadata = _validate_batch(items)
        sources = [item.source for item in items]
        external_ids = [item.external_id for item in items]
        async with _connection(self._executor) as conn:
            rows = await q.upsert_items(
                conn,
                sources,
                external_ids,
                [item.title for item in items],
                [item.content for item in items],
                [content_hash(item.content) for item in items],
                metadata,
                [_page_starts_literal(item.page_starts) for item in items],
            )
            if len(rows) != len(items):
                raise InternalError(f"upsert returned {len(rows)} rows for {len(items)} items")
            late: dict[tuple[str, str], int] = {}
            unresolved = [i for i, row in enumerate(rows) if row.id is None]
            if unresolved:
                found = await q.get_item_ids_by_keys(
                    conn, [sources[i] for i in unresolved], [external_ids[i] for i in unresolved]
                )
                late = {(row.source, row.external_id): row.id for row in found}
        outcomes = []
        for row, item in zip(rows, items):
            item_id = row.id if row.id is not None else late.get((item.source, item.external_id))
            if item_id is None:
                raise ConflictError(
                    f"item ({item.source}, {item.external_id}) was deleted by a concurrent writer during the "
                    "upsert; retry"
                )
            status = (
                UpsertStatus.INSERTED
                if row.inserted
                else UpsertStatus.UPDATED
                if row.written
                else UpsertStatus.UNCHANGED
            )
            outcomes.append(UpsertOutcome(item_id, status))
        return outcomes

    async def get(self, id: int) -> KbItem | None:
        async with _connection(self._executor) as conn:
            rows = await q.get_item(conn, id)
        return _item(rows[0]) if rows else None

    async def get_many(self, ids: Sequence[int]) -> list[KbItem | None]:
        """The items of `ids`, in the order asked (None for ids that do not exist)."""
        if not ids:
            return []
        unique = sorted(set(ids))
        async with _connection(self._executor) as conn:
            rows = await q.get_items(conn, unique)
        by_id = {row.id: _item(row) for row in rows}
        return [by_id.get(id) for id in ids]

    async def get_by_key(self, source: str, external_id: str) -> KbItem | None:
        async with _connection(self._executor) as conn:
            rows = await q.get_item_by_key(conn, source, external_id)
        return _item(rows[0]) if rows else None

    async def sources_with_items(self, sources: Sequence[str]) -> list[str]:
        if len(sources) > MAX_SOURCES_ASKED:
            raise InvalidInputError(f"{len(sources)} sources asked about; the limit is {MAX_SOURCES_ASKED}")
        if not sources:
            return []
        async with _connection(self._executor) as conn:
            return await q.sources_with_items(conn, sources)

    async def digests_of_source(self, source: str, after: str | None, limit: int) -> list[ItemDigest]:
        """A page of a source's items as digests, in external id order, those after `after`."""
        if not 1 <= limit <= MAX_KEYS_LISTED:
            raise InvalidInputError(f"a page of {limit} items; it must be 1 to {MAX_KEYS_LISTED}")
        async with _connection(self._executor) as conn:
            rows = await q.source_item_digests(conn, source, after, limit)
        return [ItemDigest(row.id, row.external_id, row.content_hash, row.updated_at) for row in rows]

    async def source_counts(self) -> list[tuple[str, int]]:
        async with _connection(self._executor) as conn:
            rows = await q.source_counts(conn)
        return [(row.source, row.items) for row in rows]

    async def delete(self, id: int) -> bool:
        async with _connection(self._executor) as conn:
            return await q.delete_item(conn, id) > 0

    async def delete_by_key(self, source: str, external_id: str) -> bool:
        async with _connection(self._executor) as conn:
            return await q.delete_item_by_key(conn, source, external_id) > 0

    async def delete_many(self, ids: Sequence[int]) -> int:
        if len(ids) > MAX_IDS_DELETED:
            raise InvalidInputError(f"{len(ids)} items to delete in one call; the limit is {MAX_IDS_DELETED}")
        if not ids:
            return 0
        async with _connection(self._executor) as conn:
            return await q.delete_items(conn, ids)

    async def keys_of_source(self, source: str, after: str | None, limit: int) -> list[tuple[int, str]]:
        if not 1 <= limit <= MAX_KEYS_LISTED:
            raise InvalidInputError(f"a page of {limit} keys; it must be 1 to {MAX_KEYS_LISTED}")
        async with _connection(self._executor) as conn:
            rows = await q.source_item_keys(conn, source, after, limit)
        return [(row.id, row.external_id) for row in rows]

    async def search(self, text: str, sources: Sequence[str] | None, limit: int) -> list[SearchHit]:
        """Full-text search (web-search syntax), best first."""
        if not _trim(text):
            raise InvalidInputError("the search text is empty")
        if "\0" in text:
            raise InvalidInputError("the search text contains a NUL character")
        _search_bounds(sources, limit)
        async with _connection(self._executor) as conn:
            rows = await q.search_items(conn, text, sources, limit)
        return [SearchHit(_item(row), row.rank) for row in rows]

    async def search_any_word(self, question: str, sources: Sequence[str] | None, limit: int) -> list[SearchHit]:
        """Items holding any word of the question, best first."""
        _search_bounds(sources, limit)
        query = _any_word_query(question)
        if query is None:
            return []
        async with _connection(self._executor) as conn:
            rows = await q.search_items_any_word(conn, query, sources, limit)
        return [SearchHit(_item(row), row.rank) for row in rows]

    async def metadata_of(self, ids: Sequence[int]) -> dict[int, Any]:
        if len(ids) > MAX_HEADS:
            raise InvalidInputError(f"{len(ids)} ids in one metadata_of call: at most {MAX_HEADS}")
        if not ids:
            return {}
        async with _connection(self._executor) as conn:
            rows = await q.get_item_metadata(conn, sorted(set(ids)))
        found = {}
        for row in rows:
            try:
                found[row.id] = json.loads(row.metadata)
            except ValueError as err:
                raise InternalError(f"item {row.id} has metadata that is not JSON: {err}") from None
        return found

    async def heads(self, ids: Sequence[int]) -> list[RankedItem]:
        """What a search result shows of items `ids`, in the order asked, score 0."""
        if len(ids) > MAX_HEADS:
            raise InvalidInputError(f"{len(ids)} ids in one heads call: at most {MAX_HEADS}")
        if not ids:
            return []
        async with _connection(self._executor) as conn:
            rows = await q.get_item_heads(conn, ids)
        by_id = {row.id: row for row in rows}
        return [
            RankedItem(row.id, row.source, row.external_id, row.title, row.content_hash, 0.0, row.page_starts)
            for row in (by_id.pop(id, None) for id in ids)
            if row is not None
        ]

    async def merge_postings(self) -> int:
        """Merges fresh postings into blocks in short steps; returns how many steps ran."""
        steps = 0
        async with _connection(self._executor) as conn:
            while True:
                (taken,) = await q.merge_fresh_postings(conn, MERGE_FRESH_ITEMS_PER_STEP)
                steps += 1
                if taken < MERGE_FRESH_ITEMS_PER_STEP:
                    break
            after: str | None = None
            while True:
                (after,) = await q.merge_postings(conn, after, MERGE_TERMS_PER_STEP)
                steps += 1
                if after is None:
                    return steps


class ChunkCacheRepo:
    """Chunk sets cached per item and chunker, valid while the item keeps the content hash."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    async def get(self, item_id: int, chunker_key: str, content_hash: bytes) -> list[KbChunkCache] | None:
        """The item's whole chunk set for this chunker and hash, else None (missing or stale)."""
        async with _connection(self._executor) as conn:
            rows = await q.get_chunks(conn, item_id, chunker_key, content_hash)
        return _complete_set([_chunk(row) for row in rows])

    async def get_many(self, chunker_key: str, items: Sequence[tuple[int, bytes]]) -> dict[int, list[KbChunkCache]]:
        if not items:
            return {}
        async with _connection(self._executor) as conn:
            rows = await q.get_chunks_for_items(conn, [i for i, _ in items], [h for _, h in items], chunker_key)
        by_item: dict[int, list[KbChunkCache]] = {}
        for row in rows:
            by_item.setdefault(row.item_id, []).append(_chunk(row))
        return {id: whole for id, chunks in by_item.items() if (whole := _complete_set(chunks)) is not None}

    async def put(self, chunker_key: str, sets: Sequence[NewChunkSet]) -> int:
        """Stores chunk sets (replacing the items' sets of this chunker); returns chunks written."""
        _validate_chunker_key(chunker_key)
        _validate_sets(sets)
        if not sets:
            return 0
        ids: list[int] = []
        indexes: list[int] = []
        counts: list[int] = []
        hashes: list[bytes] = []
        starts: list[int] = []
        ends: list[int] = []
        texts: list[str] = []
        tokens: list[int] = []
        for chunk_set in sets:
            count = len(chunk_set.chunks)
            for index, chunk in enumerate(chunk_set.chunks):
                ids.append(chunk_set.item_id)
                indexes.append(index)
                counts.append(count)
                hashes.append(chunk_set.content_hash)
                starts.append(chunk.start_offset)
                ends.append(chunk.end_offset)
                texts.append(chunk.text)
                tokens.append(chunk.token_count)
        async with _connection(self._executor) as conn:
            (written,) = await q.put_chunks(conn, ids, indexes, counts, hashes, starts, ends, texts, tokens, chunker_key)
        return max(written.chunks_written, 0)

    async def terms_of(self, chunker_key: str, items: Sequence[tuple[int, bytes]]) -> dict[int, ChunkSetTerms]:
        """Each whole chunk set's terms and frequencies, by item."""
        _validate_chunker_key(chunker_key)
        if not items:
            return {}
        async with _connection(self._executor) as conn:
            rows = await q.chunk_terms(conn, [i for i, _ in items], [h for _, h in items], chunker_key)
        sets: dict[int, tuple[ChunkSetTerms, bool]] = {}
        for row in rows:
            chunk_set, whole = sets.setdefault(row.item_id, (ChunkSetTerms(row.chunk_count, []), True))
            if row.terms is None or row.term_frequencies is None or row.term_count is None:
                sets[row.item_id] = (chunk_set, False)
                continue
            if (
                row.chunk_index != len(chunk_set.chunks)
                or len(row.terms) != len(row.term_frequencies)
                or row.chunk_count != chunk_set.chunk_count
            ):
                sets[row.item_id] = (chunk_set, False)
                continue
            chunk_set.chunks.append(
                ChunkTerms(row.chunk_index, row.term_count, [(t, max(f, 0)) for t, f in zip(row.terms, row.term_frequencies)])
            )
        return {
            id: chunk_set
            for id, (chunk_set, whole) in sets.items()
            if whole and len(chunk_set.chunks) == chunk_set.chunk_count
        }

    async def get_at(self, chunker_key: str, chunks: Sequence[tuple[int, int, bytes]]) -> list[KbChunkCache]:
        """The chunks asked for (item, index, hash) that are cached, in the order asked."""
        _validate_chunker_key(chunker_key)
        if not chunks:
            return []
        if any(index < 0 for _, index, _ in chunks):
            raise InvalidInputError("a chunk index must not be negative")
        async with _connection(self._executor) as conn:
            rows = await q.get_chunks_at(
                conn, [c[0] for c in chunks], [min(c[1], MAX_STORED) for c in chunks], [c[2] for c in chunks], chunker_key
            )
        found = {(row.item_id, row.chunk_index): _chunk(row) for row in rows}
        return [chunk for id, index, _ in chunks if (chunk := found.pop((id, index), None)) is not None]

    async def purge_stale(self) -> int:
        """Deletes chunk sets whose item's content changed since; returns rows deleted."""
        async with _connection(self._executor) as conn:
            return await q.delete_stale_chunks(conn)

    async def purge_other_chunkers(self, current_chunker_key: str) -> int:
        """Deletes chunks of every chunker but this one; returns rows deleted."""
        _validate_chunker_key(current_chunker_key)
        async with _connection(self._executor) as conn:
            return await q.delete_chunks_of_other_chunkers(conn, current_chunker_key)


def _chunk(row: q.CachedChunkRow) -> KbChunkCache:
    return KbChunkCache(
        row.item_id,
        row.chunker_key,
        row.chunk_index,
        row.chunk_count,
        row.content_hash,
        row.start_offset,
        row.end_offset,
        row.text,
        row.token_count,
        row.created_at,
    )


def _complete_set(chunks: list[KbChunkCache]) -> list[KbChunkCache] | None:
    chunks.sort(key=lambda chunk: chunk.chunk_index)
    count = len(chunks)
    whole = count > 0 and all(c.chunk_index == i and c.chunk_count == count for i, c in enumerate(chunks))
    return chunks if whole else None


def _validate_chunker_key(chunker_key: str) -> None:
    if not chunker_key or len(chunker_key.encode()) > MAX_CHUNKER_KEY_BYTES or "\0" in chunker_key:
        raise InvalidInputError(f"chunker key must be 1 to {MAX_CHUNKER_KEY_BYTES} bytes without NUL characters")


def _validate_sets(sets: Sequence[NewChunkSet]) -> None:
    seen: set[int] = set()
    for chunk_set in sets:
        def fail(rule: str) -> InvalidInputError:
            return InvalidInputError(f"chunk set of item {chunk_set.item_id}: {rule}")

        if chunk_set.item_id in seen:
            raise fail("given twice; one put may hold one set per item")
        seen.add(chunk_set.item_id)
        if not chunk_set.chunks:
            raise fail("has no chunks")
        if len(chunk_set.content_hash) != 32:
            raise fail("content_hash must be a SHA-256 digest (32 bytes)")
        for index, chunk in enumerate(chunk_set.chunks):
            if chunk.start_offset < 0 or chunk.start_offset > chunk.end_offset:
                raise fail(f"chunk {index} ends ({chunk.end_offset}) before it starts ({chunk.start_offset})")
            if chunk.end_offset > MAX_STORED or not 0 <= chunk.token_count <= MAX_STORED:
                raise fail(f"chunk {index} has an offset or token count above {MAX_STORED}")
            if "\0" in chunk.text:
                raise fail(f"chunk {index} contains a NUL character")


def _search_bounds(sources: Sequence[str] | None, limit: int) -> None:
    if not 1 <= limit <= MAX_SEARCH_LIMIT:
        raise InvalidInputError(f"search limit {limit} is out of range 1..={MAX_SEARCH_LIMIT}")
    if sources is not None and not sources:
        raise InvalidInputError("the source filter is empty: pass None to search every source")


def _is_in(ranges: tuple[tuple[int, int], ...], char: str) -> bool:
    code = ord(char)
    at = bisect.bisect_right(ranges, (code, 0x10FFFF)) - 1
    return at >= 0 and ranges[at][0] <= code <= ranges[at][1]


def _trim(text: str) -> str:
    """`text` without leading and trailing whitespace, as Rust's `str::trim` sees it."""
    start, end = 0, len(text)
    while start < end and _is_in(WHITESPACE, text[start]):
        start += 1
    while end > start and _is_in(WHITESPACE, text[end - 1]):
        end -= 1
    return text[start:end]


def _any_word_query(question: str) -> str | None:
    """The question's distinct words joined by `or`: runs of the characters Rust's
    `char::is_alphanumeric` accepts, so that no search operator can be injected."""
    words: list[str] = []
    for word in "".join(c if _is_in(ALPHANUMERIC, c) else " " for c in question).split(" "):
        if not word:
            continue
        word = word.lower()
        if word != "or" and word not in words:
            words.append(word)
        if len(words) == MAX_QUESTION_WORDS:
            break
    return " or ".join(words) if words else None


def _page_starts_literal(starts: list[int] | None) -> str | None:
    return None if starts is None else "{" + ",".join(str(start) for start in starts) + "}"


def _validate_batch(items: Sequence[NewItem]) -> list[str]:
    """Checks a batch as the Rust repository does; returns each item's metadata as JSON text."""
    seen: dict[tuple[str, str], int] = {}
    metadata: list[str] = []
    for index, item in enumerate(items):
        def fail(rule: str) -> InvalidInputError:
            return InvalidInputError(f"item {index} ({item.source}, {item.external_id}): {rule}")

        if not item.source or len(item.source.encode()) > MAX_SOURCE_BYTES:
            raise fail(f"source must be 1 to {MAX_SOURCE_BYTES} bytes")
        if not item.external_id or len(item.external_id.encode()) > MAX_EXTERNAL_ID_BYTES:
            raise fail(f"external_id must be 1 to {MAX_EXTERNAL_ID_BYTES} bytes")
        if not isinstance(item.metadata, dict):
            raise fail("metadata must be a JSON object")
        for name, text in (
            ("source", item.source),
            ("external_id", item.external_id),
            ("title", item.title),
            ("content", item.content),
        ):
            if text is not None and "\0" in text:
                raise fail(f"{name} contains a NUL character, which PostgreSQL text cannot hold")
            if text is not None and not _encodable(text):
                raise fail(f"{name} holds a lone surrogate, which UTF-8 cannot encode")
        try:
            metadata.append(json.dumps(item.metadata, ensure_ascii=False, allow_nan=False))
        except (TypeError, ValueError) as err:
            raise fail(f"metadata is not JSON ({err})") from None
        if item.page_starts is not None:
            _check_page_starts(item.page_starts, item.content, fail)
        key = (item.source, item.external_id)
        if key in seen:
            raise fail(f"same key as item {seen[key]}: one batch may hold each key once")
        seen[key] = index
    return metadata


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_page_starts(starts: list[int], content: str, fail: Any) -> None:
    if not starts or len(starts) > MAX_PAGES:
        raise fail(f"page_starts must hold 1 to {MAX_PAGES} pages")
    if starts[0] != 0:
        raise fail("page_starts must begin with 0")
    for page, (before, after) in enumerate(zip(starts, starts[1:])):
        if after < before:
            raise fail(f"page_starts must not decrease: page {page + 2} starts before page {page + 1}")
    encoded = content.encode("utf-8")
    for page, start in enumerate(starts):
        inside_char = start < len(encoded) and (encoded[start] & 0xC0) == 0x80
        if start > len(encoded) or inside_char:
            raise fail(
                f"page {page + 1} starts at byte {start}, past the content's end ({len(encoded)} bytes) "
                "or inside a character"
            )


__all__ = ["ChunkCacheRepo", "Executor", "ItemRepo", "datetime"]
