"""`teddy bench cloud`: the intent endpoint against a bare Flask insert, same server settings."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from pathlib import Path

from cloud.bench.load import LoadResult, drive
from cloud.bench.servers import BenchServer
from cloud.bench.toys import bare_requests, create_toys, signed_requests

TARGET_RATIO = 0.8
TARGET_P99_MS = 10.0


def register_bench(bench_subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = bench_subparsers.add_parser(
        "cloud", help="signed intents from many toys vs a bare Flask + sqlite-utils insert")
    parser.add_argument("--toys", type=int, default=8, help="concurrent simulated toys")
    parser.add_argument("--requests", type=int, default=4000,
                        help="measured requests per target per round (split across toys)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="alternating measured rounds per target, to even out drift")
    parser.add_argument("--warmup", type=int, default=400, help="unmeasured requests first")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--dir", help="keep the databases and server logs here")
    parser.set_defaults(handler=_run)


def _positive(args: argparse.Namespace) -> str | None:
    for name in ("toys", "requests", "rounds", "workers"):
        if getattr(args, name) < 1:
            return f"--{name} must be at least 1"
    if args.warmup < 0:
        return "--warmup must not be negative"
    if args.requests < args.toys:
        return "--requests must be at least --toys"
    return None


def _run(args: argparse.Namespace) -> int:
    problem = _positive(args)
    if problem:
        print(f"teddy bench cloud: {problem}", file=sys.stderr)
        return 2
    if args.dir:
        Path(args.dir).mkdir(parents=True, exist_ok=True)
        return _bench(Path(args.dir), args)
    with tempfile.TemporaryDirectory(prefix="teddy-bench-") as directory:
        return _bench(Path(directory), args)


def _merge(results: list[LoadResult]) -> LoadResult:
    failures: dict[int, int] = {}
    for result in results:
        for status, n in result.failures.items():
            failures[status] = failures.get(status, 0) + n
    return LoadResult(sum(r.requests for r in results), sum(r.elapsed_s for r in results),
                      [lat for r in results for lat in r.latencies_s], failures)


def _describe(name: str, result: LoadResult) -> str:
    return (f"{name:>6}: {result.requests} requests in {result.elapsed_s:.2f} s = "
            f"{result.rps:.0f} req/s, p50 {result.percentile_ms(50):.2f} ms, "
            f"p99 {result.percentile_ms(99):.2f} ms, failures {result.failures or 'none'}")


def _bench(directory: Path, args: argparse.Namespace) -> int:
    cloud_db, bare_db = directory / "bench-cloud.db", directory / "bench-bare.db"
    per_toy = args.requests // args.toys
    warm_per_toy = max(1, args.warmup // args.toys)
    cloud_runs: list[LoadResult] = []
    bare_runs: list[LoadResult] = []
    cloud = BenchServer("cloud", cloud_db, args.workers, directory / "cloud.log")
    bare = BenchServer("bare", bare_db, args.workers, directory / "bare.log")
    with contextlib.ExitStack() as running:
        for server in (cloud, bare):
            running.push(server)  # stopped on the way out, whatever happens
            server.spawn()
        for server in (cloud, bare):
            server.wait_ready(timeout_s=20)
        toys = create_toys(str(cloud_db), args.toys)
        drive(cloud.port, [signed_requests(t, warm_per_toy) for t in toys])
        drive(bare.port, [bare_requests(t, warm_per_toy) for t in toys])
        for _ in range(args.rounds):
            # Requests are signed just before their round so timestamps stay in the window.
            cloud_runs.append(drive(cloud.port, [signed_requests(t, per_toy) for t in toys]))
            bare_runs.append(drive(bare.port, [bare_requests(t, per_toy) for t in toys]))
    measured, baseline = _merge(cloud_runs), _merge(bare_runs)
    print(f"{args.toys} toys, {args.workers} gunicorn sync workers each, {args.rounds} rounds")
    print(_describe("cloud", measured))
    print(_describe("bare", baseline))
    ratio = measured.rps / baseline.rps
    summary = {
        "toys": args.toys, "workers": args.workers, "requests": measured.requests,
        "rps": round(measured.rps, 1), "p50_ms": round(measured.percentile_ms(50), 3),
        "p99_ms": round(measured.percentile_ms(99), 3), "bare_rps": round(baseline.rps, 1),
        "bare_p50_ms": round(baseline.percentile_ms(50), 3),
        "bare_p99_ms": round(baseline.percentile_ms(99), 3), "ratio": round(ratio, 3),
        "errors": sum(measured.failures.values()) + sum(baseline.failures.values()),
        "meets_target": ratio >= TARGET_RATIO and measured.percentile_ms(99) <= TARGET_P99_MS,
    }
    print(json.dumps(summary))
    return 1 if summary["errors"] else 0
