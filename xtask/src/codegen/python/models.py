"""The contract's data: items and cached chunks, as the Rust crate's models."""

from __future__ import annotations

import bisect
import enum
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

MAX_PAGES = 100_000


def content_hash(content: str) -> bytes:
    """The SHA-256 of an item's content (UTF-8), as the Rust crate computes it."""
    return hashlib.sha256(content.encode("utf-8")).digest()


def _page_at(page_starts: list[int], offset: int) -> int:
    return max(bisect.bisect_right(page_starts, offset), 1)


@dataclass(slots=True)
class KbItem:
    """One knowledge document; (source, external_id) is its identity."""

    id: int
    source: str
    external_id: str
    title: str | None
    content: str
    content_hash: bytes
    metadata: dict[str, Any]
    page_starts: list[int] | None
    created_at: datetime
    updated_at: datetime

    def page_at(self, offset: int) -> int | None:
        """The page (from 1) holding byte `offset` of the content; None without pages."""
        return None if self.page_starts is None else _page_at(self.page_starts, offset)


@dataclass(slots=True)
class NewItem:
    """An item to write with ItemRepo.upsert. The content hash is computed on write."""

    source: str
    external_id: str
    content: str
    title: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    page_starts: list[int] | None = None


class UpsertStatus(enum.Enum):
    """What an upsert did to one item."""

    INSERTED = "inserted"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(slots=True)
class UpsertOutcome:
    id: int
    status: UpsertStatus


@dataclass(slots=True)
class SearchHit:
    item: KbItem
    rank: float


@dataclass(slots=True)
class ItemDigest:
    """What a sync client compares of an item."""

    id: int
    external_id: str
    content_hash: bytes
    updated_at: datetime


@dataclass(slots=True)
class RankedItem:
    """What a search result shows of an item (identity, title, pages; no content) and its score."""

    id: int
    source: str
    external_id: str
    title: str | None
    content_hash: bytes
    score: float
    page_starts: list[int] | None

    def page_at(self, offset: int) -> int | None:
        """The page (from 1) holding byte `offset` of the content; None without pages."""
        return None if self.page_starts is None else _page_at(self.page_starts, offset)


@dataclass(slots=True)
class KbChunkCache:
    """One cached chunk of an item, made by the chunker named by `chunker_key`."""

    item_id: int
    chunker_key: str
    chunk_index: int
    chunk_count: int
    content_hash: bytes
    start_offset: int
    end_offset: int
    text: str
    token_count: int
    created_at: datetime


@dataclass(slots=True)
class NewChunk:
    start_offset: int
    end_offset: int
    text: str
    token_count: int


@dataclass(slots=True)
class NewChunkSet:
    """Every chunk of one item, made from the content with hash `content_hash`."""

    item_id: int
    content_hash: bytes
    chunks: list[NewChunk]


@dataclass(slots=True)
class ChunkTerms:
    chunk_index: int
    length: int
    terms: list[tuple[str, int]]


@dataclass(slots=True)
class ChunkSetTerms:
    chunk_count: int
    chunks: list[ChunkTerms]
