"""`teddy bench cloud`: the intent endpoint against a bare Flask insert, same server settings.

`--db` picks the database the cloud servers share (SQLite by default, or PostgreSQL) and
`--app-servers N` starts N gunicorn servers on it, the toys spread evenly over them. The bare
baseline is always one server on its own SQLite file: a fixed yardstick across set-ups.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cloud.bench import in_process
from cloud.bench.database import THROWAWAY, BenchDatabase, DatabaseSource, check_spec
from cloud.bench.load import LoadGeneratorError, LoadResult, RanOutOfRequests, drive
from cloud.bench.servers import BenchServer
from cloud.bench.toys import (
    BenchToy,
    PreparedRequest,
    bare_requests,
    create_toys,
    signed_requests,
)
from cloud.bench.wrk_run import add_round_options, run_with_wrk

TARGET_RATIO = 0.8
TARGET_P99_MS = 10.0
# Requests are signed before their round (single-use nonces, fresh timestamps), so each round
# is planned from time: its length times twice the fastest rate measured so far in this run,
# and never less than this rate (signing costs about 10 us a request, so 6,000 req/s of
# requests for a 5 s round take 0.3 s to make). A round that still runs out is run again,
# planned from the rate it saw, so the default run completes on a slow or a fast machine.
PLANNED_RPS_MIN = 6000.0
PLAN_HEADROOM = 2.0
MAX_REPLANS = 4
IN_PROCESS_BLOCKS = 5

RequestMaker = Callable[[BenchToy, int], list[PreparedRequest]]


def register_bench(bench_subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = bench_subparsers.add_parser(
        "cloud", help="signed intents from many toys vs a bare Flask + sqlite-utils insert")
    parser.add_argument("--toys", type=int, default=8, help="concurrent simulated toys")
    add_round_options(parser)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--in-process", type=int, default=1000, metavar="N",
                        help="afterwards, time both apps called directly in blocks of N "
                             "requests, without a server (0: skip)")
    parser.add_argument("--dir", help="keep the databases and server logs here")
    parser.add_argument("--db", metavar="PATH|URL",
                        help="the cloud servers' database: an SQLite path or sqlite:/// URL, "
                             "a postgresql:// URL of a database you can throw away, or "
                             f"'{THROWAWAY}' to start a private PostgreSQL server for the run "
                             "(default: a fresh SQLite file)")
    parser.add_argument("--app-servers", type=int, default=1, metavar="N",
                        help="cloud servers sharing the database, each with --workers "
                             "workers; the toys are spread evenly over them")
    parser.set_defaults(handler=_run)


def _positive(args: argparse.Namespace) -> str | None:
    for name in ("toys", "seconds", "rounds", "workers", "app_servers"):
        if getattr(args, name) < 1:
            return f"--{name.replace('_', '-')} must be at least 1"
    if args.warmup < 0:
        return "--warmup must not be negative"
    if args.in_process < 0:
        return "--in-process must not be negative"
    problem = check_spec(args.db)
    return f"--db: {problem}" if problem else None


def _run(args: argparse.Namespace) -> int:
    return run_with_wrk("teddy bench cloud", _positive(args), args, _bench_and_print,
                        "teddy-bench-")


def _bench_and_print(directory: Path, args: argparse.Namespace) -> int:
    try:
        with DatabaseSource(args.db) as source:
            summary = bench(directory, args, source.fresh(directory))
    except (LoadGeneratorError, in_process.InProcessError, RuntimeError) as exc:
        print(f"teddy bench cloud: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 1 if summary["errors"] else 0


def _describe(name: str, result: LoadResult) -> str:
    return (f"{name:>6}: {result.requests} requests in {result.elapsed_s:.2f} s = "
            f"{result.rps:.0f} req/s, p50 {result.percentile_ms(50):.2f} ms, "
            f"p99 {result.percentile_ms(99):.2f} ms, failures {result.failures or 'none'}")


class _Target:
    """The servers of one target and the requests its toys will need, planned from how fast
    the target has been."""

    def __init__(self, servers: list[BenchServer], make: RequestMaker,
                 toys: list[BenchToy]) -> None:
        self.servers = servers
        self.make = make
        self.toys = toys
        self.fastest_rps = 0.0
        # Rounds run again because they ran out: their requests reached the server uncounted.
        self.replanned = 0
        self.runs: list[LoadResult] = []

    def load(self, seconds: int) -> LoadResult:
        expected_rps = max(self.fastest_rps * PLAN_HEADROOM, PLANNED_RPS_MIN)
        for replan in range(MAX_REPLANS + 1):
            per_toy = math.ceil(expected_rps * seconds / len(self.toys)) + 10
            try:
                result = drive([server.port for server in self.servers],
                               [self.make(toy, per_toy) for toy in self.toys], seconds)
            except RanOutOfRequests as exc:
                if replan == MAX_REPLANS:
                    raise
                self.replanned += 1
                expected_rps = max(expected_rps, exc.observed_rps) * PLAN_HEADROOM
                print(f"{self.servers[0].target}: answered faster than planned; re-running "
                      f"the round with {expected_rps:.0f} req/s of requests", file=sys.stderr)
                continue
            self.fastest_rps = max(self.fastest_rps, result.rps)
            return result
        raise AssertionError("unreachable")


def bench(directory: Path, args: argparse.Namespace, database: BenchDatabase) -> dict[str, Any]:
    """Run one set-up and return its figures (printing them as it goes).

    Raises LoadGeneratorError, InProcessError or RuntimeError (a server that did not start).
    """
    bare_db = directory / "bench-bare.db"
    logs = ([directory / "cloud.log"] if args.app_servers == 1 else
            [directory / f"cloud-{n}.log" for n in range(1, args.app_servers + 1)])
    clouds = [BenchServer("cloud", database.url, args.workers, log) for log in logs]
    bare = BenchServer("bare", bare_db, args.workers, directory / "bare.log")
    with contextlib.ExitStack() as running:
        # The first cloud server migrates the database before the others start, so they
        # never race each other through the schema.
        running.push(clouds[0])
        clouds[0].spawn().wait_ready(timeout_s=60)
        for server in (*clouds[1:], bare):
            running.push(server)  # stopped on the way out, whatever happens
            server.spawn()
        for server in (*clouds[1:], bare):
            server.wait_ready(timeout_s=60)
        toys = create_toys(database.url, args.toys)
        targets = (_Target(clouds, signed_requests, toys), _Target([bare], bare_requests, toys))
        if args.warmup:
            for target in targets:
                target.load(args.warmup)
        for _ in range(args.rounds):
            for target in targets:
                target.runs.append(target.load(args.seconds))
    # After the servers have stopped, so the direct calls have the machine to themselves.
    app_cost = (in_process.measure(directory, args.toys, args.in_process, IN_PROCESS_BLOCKS)
                if args.in_process else None)
    measured, baseline = (functools.reduce(LoadResult.merged, t.runs) for t in targets)
    print(f"{args.toys} toys (wrk, one connection each), {database.label}, "
          f"{args.app_servers} cloud server(s) of {args.workers} gunicorn workers, "
          f"{args.rounds} rounds of {args.seconds} s")
    print(_describe("cloud", measured))
    print(_describe("bare", baseline))
    print(f" ratio: {measured.rps / baseline.rps:.2f} of the bare baseline's req/s in this run "
          f"(target {TARGET_RATIO})")
    if app_cost is not None:
        print(f"in process, no server: cloud {app_cost.cloud_us:.0f} us, bare "
              f"{app_cost.bare_us:.0f} us per request, ratio {app_cost.ratio:.3f}")
        print(f"per-child keys: {app_cost.crypto_us:.1f} us of the cloud's "
              f"{app_cost.cloud_us:.0f} us per request ({app_cost.crypto_share:.1%}), "
              f"{app_cost.sealed_values:.2f} values sealed or opened per request")
    ratio = measured.rps / baseline.rps
    summary: dict[str, Any] = {
        "toys": args.toys, "workers": args.workers, "requests": measured.requests,
        "rps": round(measured.rps, 1), "p50_ms": round(measured.percentile_ms(50), 3),
        "p99_ms": round(measured.percentile_ms(99), 3), "bare_rps": round(baseline.rps, 1),
        "bare_p50_ms": round(baseline.percentile_ms(50), 3),
        "bare_p99_ms": round(baseline.percentile_ms(99), 3), "ratio": round(ratio, 3),
        "errors": sum(measured.failures.values()) + sum(baseline.failures.values()),
        "meets_target": ratio >= TARGET_RATIO and measured.percentile_ms(99) <= TARGET_P99_MS,
        "db": database.backend, "app_servers": args.app_servers,
        "replanned_rounds": sum(target.replanned for target in targets),
    }
    if app_cost is not None:
        summary |= {"app_us": round(app_cost.cloud_us, 1),
                    "bare_app_us": round(app_cost.bare_us, 1),
                    "app_ratio": round(app_cost.ratio, 3),
                    "crypto_us": round(app_cost.crypto_us, 1),
                    "crypto_share": round(app_cost.crypto_share, 4)}
    return summary
