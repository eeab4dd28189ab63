"""`teddy bench fleet`: the cloud bench over the set-ups a fleet grows through, side by side.

For each number of toys it runs `teddy bench cloud` on SQLite with one app server, then on
PostgreSQL with one and with two app servers sharing the database, and prints every run's
usual JSON figures, a comparison table, and one last JSON line holding all the runs. The
PostgreSQL runs use `--db` (a URL), or by default a throwaway server with a fresh database per
run. Every set-up has the same total workers per app server, so two servers have twice the
workers of one: that is what adding an app server means.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cloud.bench import bench
from cloud.bench.database import THROWAWAY, DatabaseSource, check_spec
from cloud.bench.load import LoadGeneratorError
from cloud.bench.wrk_run import add_round_options, run_with_wrk
from cloud.storage.url import backend_of

# (label, backend, app servers), in the order a growing deployment meets them.
SETUPS: tuple[tuple[str, str, int], ...] = (
    ("SQLite, 1 app server", "sqlite", 1),
    ("PostgreSQL, 1 app server", "postgresql", 1),
    ("PostgreSQL, 2 app servers", "postgresql", 2),
)


def register_bench(bench_subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = bench_subparsers.add_parser(
        "fleet", help="signed intents on SQLite vs PostgreSQL with 1 and 2 app servers")
    parser.add_argument("--toys", type=int, nargs="+", default=[8, 64],
                        help="simulated toys per run (default: 8 64)")
    add_round_options(parser)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per server")
    parser.add_argument("--postgres", default=THROWAWAY, metavar="URL",
                        help="the PostgreSQL database for the PostgreSQL runs (one you can "
                             f"throw away), or '{THROWAWAY}' for a private throwaway server "
                             "(default)")
    parser.add_argument("--dir", help="keep the databases and server logs here")
    parser.set_defaults(handler=_run)


def _problem(args: argparse.Namespace) -> str | None:
    for name in ("seconds", "rounds", "workers"):
        if getattr(args, name) < 1:
            return f"--{name} must be at least 1"
    if any(toys < 1 for toys in args.toys):
        return "--toys must be at least 1"
    if args.warmup < 0:
        return "--warmup must not be negative"
    if args.postgres != THROWAWAY:
        problem = check_spec(args.postgres)
        if problem:
            return f"--postgres: {problem}"
        if backend_of(args.postgres) != "postgresql":
            return "--postgres: expected a postgresql:// URL"
    return None


def _run(args: argparse.Namespace) -> int:
    return run_with_wrk("teddy bench fleet", _problem(args), args, _compare, "teddy-fleet-")


def _compare(directory: Path, args: argparse.Namespace) -> int:
    runs: list[dict[str, Any]] = []
    try:
        with DatabaseSource(None) as sqlite, DatabaseSource(args.postgres) as postgres:
            for toys in args.toys:
                for label, backend, servers in SETUPS:
                    run_dir = directory / f"{backend}-{servers}-servers-{toys}-toys"
                    run_dir.mkdir(parents=True, exist_ok=True)
                    source = sqlite if backend == "sqlite" else postgres
                    settings = argparse.Namespace(
                        toys=toys, seconds=args.seconds, rounds=args.rounds,
                        warmup=args.warmup, workers=args.workers, in_process=0,
                        app_servers=servers)
                    print(f"-- {label}, {toys} toys")
                    summary = bench(run_dir, settings, source.fresh(run_dir))
                    print(json.dumps(summary), flush=True)
                    runs.append({"setup": label, **summary})
    except (LoadGeneratorError, RuntimeError) as exc:
        print(f"teddy bench fleet: {exc}", file=sys.stderr)
        return 1
    print()
    print(comparison_table(runs))
    print(json.dumps({"fleet": runs}))
    return 1 if any(run["errors"] for run in runs) else 0


def comparison_table(runs: list[dict[str, Any]]) -> str:
    """One row per run. "vs SQLite" is throughput relative to SQLite at the same toys; "vs bare"
    is the run's own ratio to the bare baseline, measured in rounds alternating with it, which
    stays comparable when other jobs share the machine and slow every run differently."""
    sqlite_rps = {run["toys"]: run["rps"] for run in runs
                  if run["db"] == "sqlite" and run["app_servers"] == 1}
    lines = [f"{'set-up':<28} {'toys':>5} {'intents/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
             f"{'vs SQLite':>9} {'vs bare':>8}"]
    for run in runs:
        base = sqlite_rps.get(run["toys"])
        relative = f"{run['rps'] / base:.2f}x" if base else "-"
        lines.append(f"{run['setup']:<28} {run['toys']:>5} {run['rps']:>10.0f} "
                     f"{run['p50_ms']:>8.2f} {run['p99_ms']:>8.2f} {relative:>9} "
                     f"{run['ratio']:>8.2f}")
    return "\n".join(lines)
