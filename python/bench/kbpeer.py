"""The reference workload kbpeer-v1 through the generated package aiblox_kb, measured as the
Python peer (../shared/peers/python-sqlalchemy) measures its SQLAlchemy stack: the same dataset
(the peer's JSONL dump, fingerprints checked), phases, 16 concurrent tasks on a pool of 16,
500 untimed warm-up operations per read phase, upserts of 500 one after another. Prints JSON.

    python bench/kbpeer.py --dataset dataset.jsonl --url postgresql://postgres@127.0.0.1:55433/kb_aiblox

Run beside the peer on its cluster by docs/benchmarks/python-peer.sh.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

from psycopg import AsyncConnection

from aiblox_kb import ChunkCacheRepo, ItemRepo, KbConfig, KbPool, Migrator, NewChunk, NewChunkSet, NewItem
from aiblox_kb.models import content_hash

EXPECTED = {
    "items_sha256": "767372fd06fcd8f6d73efcdce9497e6572899f409c05ff1b1dd800a71924d8c0",
    "workload_sha256": "4a3a393523119e5fda96ce77b69e7e408c7d87da0555f203a3d77646c78c230d",
}


@dataclass
class Workload:
    meta: dict[str, Any]
    items: list[dict[str, Any]]
    get: list[int]
    get_many: list[list[int]]
    search: list[str]
    chunk_put: list[dict[str, Any]]
    chunk_get: list[int]


def load(path: str) -> Workload:
    workload = Workload({}, [], [], [], [], [], [])
    with open(path) as lines:
        for line in lines:
            record = json.loads(line)
            kind = record["type"]
            if kind == "meta":
                workload.meta = record
            elif kind == "item":
                workload.items.append(record)
            elif kind == "get":
                workload.get = record["idx"]
            elif kind == "get_many":
                workload.get_many = record["idx"]
            elif kind == "search":
                workload.search = record["queries"]
            elif kind == "chunk_put":
                workload.chunk_put.append(record)
            elif kind == "chunk_get":
                workload.chunk_get = record["idx"]
    return workload


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest rank, as the peer computes it."""
    k = max(0, min(len(values) - 1, int(round(p / 100.0 * len(values) + 0.5)) - 1))
    return values[k]


def latencies(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "p50_ms": round(percentile(ordered, 50) * 1e3, 3),
        "p99_ms": round(percentile(ordered, 99) * 1e3, 3),
        "mean_ms": round(statistics.fmean(ordered) * 1e3, 3),
        "max_ms": round(ordered[-1] * 1e3, 3),
    }


async def concurrently(
    call: Callable[[Any], Awaitable[Any]], args: Sequence[Any], tasks: int
) -> tuple[float, list[float], list[Any]]:
    """`tasks` workers pull from one shared list; wall time, each call's latency and result."""
    latency = [0.0] * len(args)
    results: list[Any] = [None] * len(args)
    indexes = iter(range(len(args)))
    clock = time.perf_counter

    async def worker() -> None:
        for i in indexes:
            started = clock()
            results[i] = await call(args[i])
            latency[i] = clock() - started

    started = clock()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    return clock() - started, latency, results


def server_cpu_seconds() -> float | None:
    """CPU seconds (user + system) of the server's processes: the children of the postmaster
    of PGDATA_DIR (default the peer's cluster), read from /proc; None when it cannot be read."""
    data_dir = os.environ.get("PGDATA_DIR", "/tmp/peerpg/data")
    try:
        with open(os.path.join(data_dir, "postmaster.pid")) as pid_file:
            postmaster = pid_file.readline().strip()
    except OSError:
        return None
    ticks = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == postmaster:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


class Cpu:
    """The client's and the server's CPU seconds over a phase."""

    def __enter__(self) -> Cpu:
        self.client, self.server = time.process_time(), server_cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        server = server_cpu_seconds()
        self.figures = {
            "client_cpu_s": round(time.process_time() - self.client, 3),
            "server_cpu_s": None if server is None or self.server is None else round(server - self.server, 2),
        }


def phase(ops: int, wall: float, latency: list[float], cpu: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"ops": ops, "wall_s": round(wall, 3), "ops_per_s": round(ops / wall, 1), **latencies(latency),
            **cpu, **extra}


async def maintenance(config: KbConfig) -> None:
    conn = await AsyncConnection.connect(**config.connect_kwargs(), autocommit=True)
    async with conn:
        for table in ("item", "chunk_cache"):
            await conn.execute(f"VACUUM (ANALYZE) {config.schema}.{table}".encode())
        await conn.execute(b"CHECKPOINT")


async def bench(args: argparse.Namespace, workload: Workload) -> dict[str, Any]:
    config = KbConfig(args.url, args.schema)
    await Migrator(config).run()
    conn = await AsyncConnection.connect(**config.connect_kwargs(), autocommit=True)
    async with conn:
        await conn.execute(f"TRUNCATE {config.schema}.item RESTART IDENTITY CASCADE".encode())
        server_version = (await (await conn.execute(b"SHOW server_version")).fetchone() or ["?"])[0]
    await maintenance(config)
    tasks = args.concurrency
    out: dict[str, Any] = {"_server_version": server_version}
    async with KbPool(config, max_size=tasks) as pool:
        items, chunks = ItemRepo(pool), ChunkCacheRepo(pool)
        new = [
            NewItem(i["source"], i["external_id"], i["content"], title=i["title"], metadata=i["metadata"])
            for i in workload.items
        ]
        ids: list[int] = []
        batch_latency = []
        with Cpu() as cpu:
            started = time.perf_counter()
            for first in range(0, len(new), args.batch):
                batch_started = time.perf_counter()
                ids.extend(outcome.id for outcome in await items.upsert(new[first : first + args.batch]))
                batch_latency.append(time.perf_counter() - batch_started)
            wall = time.perf_counter() - started
        out["upsert"] = {"rows": len(ids), "batch": args.batch, "wall_s": round(wall, 3),
                         "rows_per_s": round(len(ids) / wall, 1), **cpu.figures,
                         **{f"batch_{k}": v for k, v in latencies(batch_latency).items()}}
        await maintenance(config)

        async def timed(name: str, call: Callable[[Any], Awaitable[Any]], args_: list[Any], warm: bool = True,
                        **extra: Callable[[list[Any]], Any]) -> None:
            if warm and args.warmup:
                await concurrently(call, args_[: args.warmup], tasks)
            with Cpu() as cpu:
                wall, latency, results = await concurrently(call, args_, tasks)
            summary = {key: summarize(results) for key, summarize in extra.items()}
            out[name] = phase(len(args_), wall, latency, cpu.figures, concurrency=tasks, **summary)

        async def get(item_id: int) -> bool:
            return await items.get(item_id) is not None

        await timed("get", get, [ids[i] for i in workload.get], found=sum)

        async def get_many(id_list: list[int]) -> int:
            return sum(item is not None for item in await items.get_many(id_list))

        await timed("get_many", get_many, [[ids[i] for i in call] for call in workload.get_many], rows=sum)

        async def search(query: str) -> int:
            return len(await items.search(query, None, args.search_limit))

        await timed("search", search, workload.search, mean_hits=lambda h: round(statistics.fmean(h), 2),
                    empty=lambda h: sum(n == 0 for n in h))

        hashes = {record["idx"]: content_hash(workload.items[record["idx"]]["content"]) for record in workload.chunk_put}
        puts = [
            NewChunkSet(ids[record["idx"]], hashes[record["idx"]],
                        [NewChunk(c["start_offset"], c["end_offset"], c["text"], c["token_count"]) for c in record["chunks"]])
            for record in workload.chunk_put
        ]

        async def put(chunk_set: NewChunkSet) -> int:
            return await chunks.put(args.chunker_key, [chunk_set])

        await timed("chunk_put", put, puts, warm=False, chunks=sum)
        await maintenance(config)

        async def chunk_get(index: int) -> bool:
            return await chunks.get(ids[index], args.chunker_key, hashes[index]) is not None

        await timed("chunk_get", chunk_get, workload.chunk_get, hits=sum)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="the peer's JSONL dump (bench.py --dump-dataset F --dump-only)")
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:55433/kb_aiblox")
    parser.add_argument("--schema", default="kb")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--search-limit", type=int, default=10)
    parser.add_argument("--chunker-key", default="ws256-v1")
    parser.add_argument("--pgbench-tps", type=float)
    parser.add_argument("--label", default="")
    parser.add_argument("--out")
    args = parser.parse_args()
    workload = load(args.dataset)
    for key, expected in EXPECTED.items():
        if workload.meta.get(key) != expected:
            raise SystemExit(f"the dataset's {key} is {workload.meta.get(key)}, not kbpeer-v1's {expected}")
    gc.collect()
    gc.freeze()
    phases = asyncio.run(bench(args, workload))
    result = {
        "impl": "aiblox-kb-python",
        "label": args.label,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "env": {"psycopg": version("psycopg"), "postgres": phases.pop("_server_version"), "cpus": os.cpu_count()},
        "dataset": {k: workload.meta[k] for k in ("generator", "seed", "n_items", "items_sha256", "workload_sha256")},
        "params": {"concurrency": args.concurrency, "pool_size": args.concurrency, "batch": args.batch,
                   "warmup": args.warmup},
        "phases": phases,
    }
    if args.pgbench_tps:
        result["pgbench_select_only_tps"] = args.pgbench_tps
        result["get_vs_pgbench_ratio"] = round(phases["get"]["ops_per_s"] / args.pgbench_tps, 4)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
