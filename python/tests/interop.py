"""A Python block driven by the Rust interop tests (aiblox-kb/tests/integration/python.rs and
the orchestrator's e2e tests): each command runs the generated package against the database of
AIBLOX_KB_DATABASE_URL and schema AIBLOX_KB_SCHEMA and prints one JSON document.

    python tests/interop.py migrate | status | check
    python tests/interop.py ingest < items.json     # [{source, external_id, content, title?, metadata?, page_starts?}]
    python tests/interop.py ingest-then-fail < items.json    # in one transaction that then fails
    python tests/interop.py get SOURCE EXTERNAL_ID
    python tests/interop.py any-word QUESTION             # ItemRepo.search_any_word: external ids
    python tests/interop.py heads ID...
    python tests/interop.py hashes < texts.json     # content hashes and migration checksums
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import aiblox_kb
from aiblox_kb import ItemRepo, KbConfig, KbError, KbPool, Migrator, NewItem


def compatibility(value: aiblox_kb.Compatibility) -> dict[str, Any]:
    return {"state": value.state.value, "reason": value.reason}


async def command(name: str, args: list[str]) -> Any:
    config = KbConfig.from_env()
    if name == "migrate":
        report = await Migrator(config).run()
        return {
            "applied": report.applied,
            "already_applied": report.already_applied,
            "compatibility": compatibility(report.compatibility),
        }
    if name == "status":
        status = await Migrator(config).status()
        return {"pending": status.pending, "compatibility": compatibility(status.compatibility)}
    if name == "check":
        try:
            await Migrator(config).check()
        except KbError as err:
            return {"ok": False, "kind": err.kind, "error": str(err)}
        return {"ok": True}
    if name in ("ingest", "ingest-then-fail"):
        items = [
            NewItem(
                item["source"],
                item["external_id"],
                item["content"],
                title=item.get("title"),
                metadata=item.get("metadata", {}),
                page_starts=item.get("page_starts"),
            )
            for item in json.load(sys.stdin)
        ]
        async with KbPool(config, max_size=2) as pool:
            if name == "ingest-then-fail":
                try:
                    async with pool.transaction() as conn:
                        await ItemRepo(conn).upsert(items)
                        await conn.execute("SELECT 1 / 0")
                except KbError as err:
                    return {"kind": err.kind, "error": str(err)}
                return None
            outcomes = await ItemRepo(pool).upsert(items)
        return [{"id": outcome.id, "status": outcome.status.value} for outcome in outcomes]
    if name == "any-word":
        async with KbPool(config, max_size=1) as pool:
            hits = await ItemRepo(pool).search_any_word(args[0], None, 100)
        return sorted(hit.item.external_id for hit in hits)
    if name == "heads":
        async with KbPool(config, max_size=1) as pool:
            heads = await ItemRepo(pool).heads([int(arg) for arg in args])
        return [head.external_id for head in heads]
    if name == "get":
        async with KbPool(config, max_size=1) as pool:
            item = await ItemRepo(pool).get_by_key(args[0], args[1])
        if item is None:
            return None
        return {
            "id": item.id,
            "title": item.title,
            "content": item.content,
            "content_hash": item.content_hash.hex(),
            "metadata": item.metadata,
            "page_starts": item.page_starts,
        }
    if name == "hashes":
        texts = json.load(sys.stdin)
        return {
            "content_hashes": [aiblox_kb.content_hash(text).hex() for text in texts],
            "checksums": [aiblox_kb.checksum(text) for text in texts],
        }
    raise SystemExit(f"unknown command {name!r}")


def main() -> None:
    result = asyncio.run(command(sys.argv[1], sys.argv[2:]))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
