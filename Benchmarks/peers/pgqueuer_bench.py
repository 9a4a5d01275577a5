#!/usr/bin/env python3
"""Measures PgQueuer (the Python PostgreSQL job queue) on a given database.

Run it with the Python of the virtualenv made by setup_venv.sh. Every subcommand
takes --dsn (a postgresql:// URL of a database used by PgQueuer alone) and prints
one JSON object on stdout; PgQueuer's own log lines, if any, go to stderr.

  install                                      install PgQueuer's schema (+ its autovacuum tuning)
  enqueue   --count N --batch B                time N enqueues, B jobs per Queries.enqueue call
  burndown  --count N --batch B --concurrency C
                                               time C QueueManagers draining N pre-enqueued no-op jobs
  latency   --rate R --seconds S [--batch B]   enqueue R jobs/s for S s, one per call, and measure
                                               enqueue -> handler start delay (first second dropped)

Written against the API of pgqueuer 1.6.0 (read from its installed source):
  Queries(AsyncpgDriver(conn)).install() / .optimize_autovacuum() / .enqueue(lists...)
  QueueManager(queries).entrypoint(name) decorator, await qm.run(batch_size=..., ...),
  stop with qm.shutdown.set().
enqueue, burndown and latency empty PgQueuer's queue and log tables first (untimed),
so the subcommands can run one after another on the same database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from datetime import timedelta
from importlib.metadata import version

import asyncpg
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Job
from pgqueuer.qm import QueueManager
from pgqueuer.queries import Queries

NOOP = "noop"
LATENCY = "latency"
# Untimed pre-enqueue of the burn-down backlog uses calls of this many jobs.
PREFILL_CHUNK = 5_000


def emit(result: dict) -> None:
    print(json.dumps(result), flush=True)


async def open_queries(dsn: str) -> tuple[asyncpg.Connection, Queries]:
    conn = await asyncpg.connect(dsn)
    return conn, Queries(AsyncpgDriver(conn))


async def require_schema(queries: Queries) -> None:
    if not await queries.schema_is_installed():
        raise SystemExit("PgQueuer's schema is missing: run the install subcommand first")


async def reset(queries: Queries) -> None:
    """Empties the queue, its log and statistics so each measurement starts alike."""
    await queries.clear_queue()
    await queries.clear_queue_log()
    await queries.clear_statistics_log()


async def enqueue_batches(queries: Queries, entrypoint: str, count: int, batch: int) -> None:
    """Enqueues count jobs with PgQueuer's batched form (one INSERT per list of jobs)."""
    done = 0
    while done < count:
        size = min(batch, count - done)
        await queries.enqueue([entrypoint] * size, [b"{}"] * size, [0] * size)
        done += size


async def remaining_jobs(queries: Queries) -> int:
    return sum(row.count for row in await queries.queue_size())


def rate(jobs: int, seconds: float) -> float:
    return round(jobs / seconds, 1) if seconds > 0 else 0.0


async def cmd_install(args: argparse.Namespace) -> None:
    conn, queries = await open_queries(args.dsn)
    try:
        already = await queries.schema_is_installed()
        if not already:
            await queries.install()
        # `pgq autovac`: the autovacuum settings PgQueuer's performance guide tells to apply.
        await queries.optimize_autovacuum()
    finally:
        await conn.close()
    emit({"installed": True, "already_installed": already, "pgqueuer": version("pgqueuer"),
          "durability": "durable (default)", "autovacuum_tuned": True})


async def cmd_enqueue(args: argparse.Namespace) -> None:
    conn, queries = await open_queries(args.dsn)
    try:
        await require_schema(queries)
        await reset(queries)
        start = time.perf_counter()
        await enqueue_batches(queries, NOOP, args.count, args.batch)
        seconds = time.perf_counter() - start
        queued = await remaining_jobs(queries)
    finally:
        await conn.close()
    if queued != args.count:
        raise SystemExit(f"expected {args.count} queued jobs, found {queued}")
    emit({"jobs": args.count, "seconds": round(seconds, 4), "rate": rate(args.count, seconds),
          "batch": args.batch})


async def run_consumers(qms: list[QueueManager], finished: asyncio.Event, timeout: float,
                        **run_settings: object) -> None:
    """Runs the QueueManagers until `finished` is set, then shuts them down and waits for them.

    Raises if a QueueManager dies on its own or `timeout` passes first.
    """
    runs = [asyncio.create_task(qm.run(**run_settings)) for qm in qms]
    waiter = asyncio.create_task(finished.wait())
    try:
        done, _ = await asyncio.wait([waiter, *runs], timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            for task in done:
                task.result()  # re-raises a QueueManager's error
            raise SystemExit(f"consumers did not finish within {timeout} s")
    finally:
        waiter.cancel()
        for qm in qms:
            qm.shutdown.set()
        # run() returns once in-flight jobs are done and its status buffer is flushed.
        await asyncio.gather(*runs)


async def cmd_burndown(args: argparse.Namespace) -> None:
    conn, queries = await open_queries(args.dsn)
    consumer_conns: list[asyncpg.Connection] = []
    try:
        await require_schema(queries)
        await reset(queries)
        await enqueue_batches(queries, NOOP, args.count, max(args.batch, PREFILL_CHUNK))
        # The timed part starts from clean pages, as scripts/bench does for every system.
        await conn.execute("CHECKPOINT")

        processed = 0
        last_handled = 0.0
        finished = asyncio.Event()

        async def noop(job: Job) -> None:
            nonlocal processed, last_handled
            processed += 1
            if processed >= args.count and not finished.is_set():
                last_handled = time.perf_counter()
                finished.set()

        # One QueueManager per unit of concurrency, each on its own dedicated asyncpg
        # connection (the guide: "a single connection for QueueManager", no pool), like
        # PgQueuer's own drain benchmark runs N dequeuers.
        qms = []
        for _ in range(args.concurrency):
            consumer_conn = await asyncpg.connect(args.dsn)
            consumer_conns.append(consumer_conn)
            qm = QueueManager(Queries(AsyncpgDriver(consumer_conn)))
            qm.entrypoint(NOOP)(noop)
            qms.append(qm)

        start = time.perf_counter()
        # batch_size=B, no max_concurrent_tasks cap (PgQueuer's default: unlimited),
        # default 30 s dequeue_timeout (LISTEN/NOTIFY wakes the managers, not polling).
        await run_consumers(qms, finished, args.timeout, batch_size=args.batch)
        seconds = time.perf_counter() - start
        left = await remaining_jobs(queries)
    finally:
        for consumer_conn in consumer_conns:
            await consumer_conn.close()
        await conn.close()
    if left != 0:
        raise SystemExit(f"{left} jobs still in PgQueuer's queue after the burn-down")
    emit({"jobs": processed, "seconds": round(seconds, 4), "rate": rate(processed, seconds),
          "seconds_to_last_handler": round(last_handled - start, 4),
          "batch": args.batch, "concurrency": args.concurrency})


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


async def cmd_latency(args: argparse.Namespace) -> None:
    producer_conn, queries = await open_queries(args.dsn)
    consumer_conn = await asyncpg.connect(args.dsn)
    try:
        await require_schema(queries)
        await reset(queries)

        total = int(round(args.rate * args.seconds))
        samples: list[tuple[float, float]] = []  # (enqueued_at, handler start - enqueued_at)
        finished = asyncio.Event()

        async def record(job: Job) -> None:
            started = time.time()
            enqueued_at = float(job.payload or b"0")
            samples.append((enqueued_at, started - enqueued_at))
            if len(samples) >= total:
                finished.set()

        qm = QueueManager(Queries(AsyncpgDriver(consumer_conn)))
        qm.entrypoint(LATENCY)(record)

        async def produce() -> float:
            # Let the manager verify the schema and LISTEN before the first job.
            await asyncio.sleep(0.5)
            began = time.perf_counter()
            for i in range(total):
                delay = began + i / args.rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                # One job per call: the enqueue time travels in the payload.
                await queries.enqueue(LATENCY, repr(time.time()).encode(), 0)
            return time.perf_counter() - began

        producer = asyncio.create_task(produce())
        # The consumer in its default shape: LISTEN/NOTIFY wake-ups, batch_size 10 unless
        # --batch says otherwise, 30 s dequeue_timeout as the polling fallback.
        await run_consumers([qm], finished, args.seconds + 30.0 + args.timeout,
                            batch_size=args.batch)
        producing_seconds = await producer
    finally:
        await consumer_conn.close()
        await producer_conn.close()

    if not samples:
        raise SystemExit("no job was processed")
    first = min(enqueued_at for enqueued_at, _ in samples)
    kept = sorted(delay * 1000 for enqueued_at, delay in samples
                  if enqueued_at - first >= args.warmup)
    if not kept:
        raise SystemExit("every sample fell in the warm-up second")
    emit({"jobs": len(kept), "p50_ms": round(percentile(kept, 50), 3),
          "p99_ms": round(percentile(kept, 99), 3), "max_ms": round(kept[-1], 3),
          "mean_ms": round(sum(kept) / len(kept), 3),
          "target_rate": args.rate, "achieved_rate": rate(total, producing_seconds),
          "batch": args.batch})


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--dsn", required=True, help="postgresql:// URL of PgQueuer's database")
        return p

    command("install", "install PgQueuer's schema")

    p = command("enqueue", "time batched enqueues")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--batch", type=int, default=100)

    p = command("burndown", "time the processing of a pre-enqueued backlog")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--batch", type=int, default=100, help="QueueManager batch_size")
    p.add_argument("--concurrency", type=int, default=1,
                   help="number of QueueManagers, one connection each")
    p.add_argument("--timeout", type=float, default=900.0, help="give up after this many seconds")

    p = command("latency", "enqueue-to-start latency at a steady rate")
    p.add_argument("--rate", type=float, required=True, help="jobs per second")
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--batch", type=int, default=10, help="QueueManager batch_size (default 10)")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of samples to drop")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds to wait for stragglers after the last enqueue")

    args = parser.parse_args(argv)
    for name in ("count", "batch", "concurrency"):
        if getattr(args, name, 1) < 1:
            parser.error(f"--{name} must be at least 1")
    if getattr(args, "rate", 1) <= 0 or getattr(args, "seconds", 1) <= 0:
        parser.error("--rate and --seconds must be positive")
    return args


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    handler = {"install": cmd_install, "enqueue": cmd_enqueue,
               "burndown": cmd_burndown, "latency": cmd_latency}[args.command]
    try:
        import uvloop  # a PgQueuer dependency; `pgq run` uses it too
    except ImportError:
        asyncio.run(handler(args))
    else:
        uvloop.run(handler(args))


if __name__ == "__main__":
    main(sys.argv[1:])
