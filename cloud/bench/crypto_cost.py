"""`teddy bench crypto`: what per-child keys cost each signed intent, inside the server.

The cloud app is called in process, one request at a time, on the benchmark's realistic mix
(stories, jokes, songs, a favourite shared, personalised replies), with personalisation and
history consented so every request seals or opens something. Around each block the keys
module's own tally (cloud.keys.fields.crypto_time) gives the time spent sealing and opening,
key look-ups in the key store included, against the request's whole server time. The target:
under 10% of it. Also printed: one seal and one open on their own, without the key store.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cloud.bench.in_process import InProcessError, measure_with_crypto
from cloud.bench.toys import create_toys, signed_requests
from cloud.keys.envelope import new_key, open_sealed, seal

TARGET_SHARE = 0.10
WARMUP_BLOCKS = 1


def register_bench(bench_subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = bench_subparsers.add_parser(
        "crypto", help="per-child keys: sealing and opening time per request vs server time")
    parser.add_argument("--toys", type=int, default=8, help="simulated toys (children)")
    parser.add_argument("--requests", type=int, default=1000,
                        help="signed intents per measured block")
    parser.add_argument("--blocks", type=int, default=5, help="measured blocks (median)")
    parser.add_argument("--db", help="database (default: an SQLite file in a temporary dir)")
    parser.add_argument("--key-store", help="key store (default: beside the database)")
    parser.set_defaults(handler=_run)


def _primitive_us(repeat: int = 20000) -> tuple[float, float]:
    """One AES-256-GCM seal and one open of a short value, without any key look-up."""
    key = new_key()
    place = {"child_id": 1, "table": "profile_facts", "column": "value"}
    started = time.perf_counter()
    sealed = [seal(key, "owl", **place) for _ in range(repeat)]  # type: ignore[arg-type]
    sealing = (time.perf_counter() - started) / repeat * 1e6
    started = time.perf_counter()
    for value in sealed:
        open_sealed(key, value, **place)  # type: ignore[arg-type]
    return sealing, (time.perf_counter() - started) / repeat * 1e6


def measure(db_path: str, key_store: str | None, toys: int, per_block: int,
            blocks: int) -> dict[str, float]:
    from cloud.app import create_app
    from cloud.storage.db import close_worker_connections

    # A fixed session key: no parent signs in here, and PostgreSQL has no file beside it.
    app = create_app(db_path=db_path, key_store=key_store, purge_interval_s=0,
                     erasure_runner=False, secret_key="bench-crypto-no-sessions")
    bench_toys = create_toys(db_path, toys)
    per_toy = max(1, per_block // toys)
    totals, cryptos, values = [], [], []
    try:
        for block in range(WARMUP_BLOCKS + blocks):
            requests = [r for t in bench_toys for r in signed_requests(t, per_toy)]
            total, crypto, count = measure_with_crypto(app, requests)
            if block >= WARMUP_BLOCKS:
                totals.append(total)
                cryptos.append(crypto)
                values.append(count)
    finally:
        close_worker_connections()
    server_us, crypto_us = statistics.median(totals), statistics.median(cryptos)
    seal_us, open_us = _primitive_us()
    return {"server_us": round(server_us, 1), "crypto_us": round(crypto_us, 1),
            "crypto_share": round(crypto_us / server_us, 4),
            "values_per_request": round(statistics.median(values), 2),
            "seal_us": round(seal_us, 2), "open_us": round(open_us, 2)}


def _run(args: argparse.Namespace) -> int:
    if min(args.toys, args.requests, args.blocks) < 1:
        print("teddy bench crypto: --toys, --requests and --blocks must be at least 1",
              file=sys.stderr)
        return 2
    try:
        if args.db:
            figures = measure(args.db, args.key_store, args.toys, args.requests, args.blocks)
        else:
            with tempfile.TemporaryDirectory(prefix="teddy-bench-crypto-") as directory:
                figures = measure(str(Path(directory) / "bench.db"), args.key_store, args.toys,
                                  args.requests, args.blocks)
    except (InProcessError, ValueError) as exc:
        print(f"teddy bench crypto: {exc}", file=sys.stderr)
        return 1
    print(f"{args.toys} toys, {args.blocks} blocks of {args.requests} signed intents, in "
          "process (no HTTP server)")
    print(f"server time {figures['server_us']:.0f} us per request, of which sealing and "
          f"opening {figures['crypto_us']:.1f} us ({figures['crypto_share']:.1%}; target "
          f"under {TARGET_SHARE:.0%}), {figures['values_per_request']:.2f} values per request")
    print(f"one AES-256-GCM seal {figures['seal_us']:.2f} us, one open "
          f"{figures['open_us']:.2f} us (no key look-up)")
    print(json.dumps({**figures, "meets_target": figures["crypto_share"] < TARGET_SHARE}))
    return 0
