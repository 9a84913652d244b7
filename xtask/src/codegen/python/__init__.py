"""aiblox-kb for Python blocks: the knowledge-base contract generated from the Rust crate.

    from aiblox_kb import KbConfig, KbPool, ItemRepo, NewItem, Migrator

    config = KbConfig.from_env()
    await Migrator(config).run()          # or .check() in a block that does not migrate
    async with KbPool(config) as pool:
        await ItemRepo(pool).upsert([NewItem("docs", "a.md", "text", title="A")])
"""

from ._contract import SCHEMA_VERSION, VERSION
from .config import KbConfig, validate_schema_name
from .errors import (
    ConfigError,
    ConflictError,
    DatabaseError,
    IncompatibleError,
    InternalError,
    InvalidInputError,
    KbError,
    MigrationError,
    NotFoundError,
    UnavailableError,
)
from .migrate import Compatibility, MigrationReport, MigrationStatus, Migrator, State, checksum, migrate
from .models import (
    MAX_PAGES,
    ChunkSetTerms,
    ChunkTerms,
    ItemDigest,
    KbChunkCache,
    KbItem,
    NewChunk,
    NewChunkSet,
    NewItem,
    RankedItem,
    SearchHit,
    UpsertOutcome,
    UpsertStatus,
    content_hash,
)
from .pool import KbPool
from .repos import ChunkCacheRepo, Executor, ItemRepo

__version__ = VERSION

__all__ = [
    "MAX_PAGES",
    "SCHEMA_VERSION",
    "VERSION",
    "ChunkCacheRepo",
    "ChunkSetTerms",
    "ChunkTerms",
    "Compatibility",
    "ConfigError",
    "ConflictError",
    "DatabaseError",
    "Executor",
    "IncompatibleError",
    "InternalError",
    "InvalidInputError",
    "ItemDigest",
    "ItemRepo",
    "KbChunkCache",
    "KbConfig",
    "KbError",
    "KbItem",
    "KbPool",
    "MigrationError",
    "MigrationReport",
    "MigrationStatus",
    "Migrator",
    "NewChunk",
    "NewChunkSet",
    "NewItem",
    "NotFoundError",
    "RankedItem",
    "SearchHit",
    "State",
    "UnavailableError",
    "UpsertOutcome",
    "UpsertStatus",
    "checksum",
    "content_hash",
    "migrate",
    "validate_schema_name",
]
