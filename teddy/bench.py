"""`teddy bench ...`: benchmarks that print figures, each ending with one JSON line."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    import cloud.bench
    import cloud.bench.crypto_cost
    import cloud.bench.fleet
    import cloud.bench.slow_clients
    import cloud.retention.bench
    import device.bench

    bench = subparsers.add_parser("bench", help="run a benchmark and print its figures")
    sub = bench.add_subparsers(dest="bench_command", required=True)
    cloud.bench.register_bench(sub)
    cloud.bench.fleet.register_bench(sub)
    cloud.bench.crypto_cost.register_bench(sub)
    cloud.bench.slow_clients.register_bench(sub)
    cloud.retention.bench.register_bench(sub)
    device.bench.register_bench(sub)
