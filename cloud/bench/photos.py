"""`teddy bench photos`: what checking a phone photo costs the server (time and memory).

Each kind of photo a parent may upload is made here (noise blurred like a real photo, so it
compresses like one), then handed to `cloud.parent_web.uploads.photo_for_check` in a fresh
process: the median time of several runs, and the peak memory the check added to that
process (its maximum resident size after the check minus before). Beside it, the same photo
decoded at full size and then shrunk, the plain way, as the reference the reduced decode is
measured against (a ratio, which a noisy machine changes less than the times).
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import statistics
import sys
import time
from typing import Any

from PIL import Image, ImageFilter, ImageOps

CASES = {
    "12 MP JPEG": ("JPEG", (4000, 3000)),
    "48 MP JPEG": ("JPEG", (8000, 6000)),
    "12 MP PNG": ("PNG", (4000, 3000)),
    "12 MP HEIC": ("HEIF", (4000, 3000)),
}


def photo_like(size: tuple[int, int], kind: str = "JPEG", quality: int = 93,
               exif: Image.Exif | None = None) -> bytes:
    """A photo-sized image that compresses like a photo: blurred noise, one per channel."""
    grain = Image.effect_noise(size, 60).filter(ImageFilter.GaussianBlur(1.2))
    image = Image.merge("RGB", (grain, grain.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
                                grain.transpose(Image.Transpose.FLIP_TOP_BOTTOM)))
    out = io.BytesIO()
    options: dict[str, Any] = {"exif": exif} if exif is not None else {}
    if kind == "JPEG":
        options["quality"] = quality
    if kind == "HEIF":
        from cloud.parent_web.uploads import heic_supported

        if not heic_supported():
            raise RuntimeError("pillow-heif is not installed")
        options.update(quality=80, enc_params={"preset": "ultrafast"})  # noise is slow to encode
    image.save(out, kind, **options)
    return out.getvalue()


def _plain_downscale(data: bytes) -> None:
    """The reference: decode everything, then shrink."""
    with Image.open(io.BytesIO(data)) as image:
        upright = ImageOps.exif_transpose(image)
        upright.load()
        upright.thumbnail((1600, 1600))


def _measure_in_child(data: bytes, way: str, runs: int) -> dict[str, float]:
    from cloud.parent_web.uploads import heic_supported, photo_for_check

    heic_supported()  # loads libheif for both ways, before the baseline
    check = (lambda: photo_for_check(bytearray(data), "bench")) if way == "check" \
        else (lambda: _plain_downscale(data))
    before_kb = _reset_peak_kb()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        check()
        times.append(time.perf_counter() - started)
    return {"ms": statistics.median(times) * 1000,
            "peak_mb": max(0, _status_kb("VmHWM") - before_kb) / 1024}


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak_kb() -> int:
    """Start the peak (VmHWM) afresh from what is resident now, and return that (Linux).

    A spawned process inherits its parent's peak (`ru_maxrss`), which would hide the check's."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    return _status_kb("VmRSS")


def _child(queue: Any, data: bytes, way: str, runs: int) -> None:
    try:
        queue.put(_measure_in_child(data, way, runs))
    except Exception as exc:  # reported by the parent, which would otherwise wait in vain
        queue.put({"error": f"{type(exc).__name__}: {exc}"})


def measure(data: bytes, way: str, runs: int) -> dict[str, float]:
    """One way of downscaling: its peak memory from a single run in a fresh process (later
    runs in the same process reuse what the allocator kept), its median time from `runs`
    runs in another."""
    memory = _in_fresh_process(data, way, 1)
    return {"ms": _in_fresh_process(data, way, runs)["ms"], "peak_mb": memory["peak_mb"]}


def _in_fresh_process(data: bytes, way: str, runs: int) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(queue, data, way, runs))
    process.start()
    figures: dict[str, Any] = queue.get(timeout=600)
    process.join()
    if "error" in figures:
        raise RuntimeError(f"{way}: {figures['error']}")
    return figures


def register_bench(bench_subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = bench_subparsers.add_parser(
        "photos", help="checking a phone photo: time and memory of the downscaled decode")
    parser.add_argument("--runs", type=int, default=5, help="runs per photo (median)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    if args.runs < 1:
        print("teddy bench photos: --runs must be at least 1", file=sys.stderr)
        return 2
    summary: dict[str, Any] = {}
    print(f"{'photo':<12} {'size':>8}  {'check ms':>9} {'check MB':>9}  "
          f"{'plain ms':>9} {'plain MB':>9}  {'time ratio':>10}", flush=True)
    for name, (kind, size) in CASES.items():
        try:
            data = photo_like(size, kind)
        except (RuntimeError, KeyError, OSError) as exc:
            print(f"{name:<12} skipped: {exc}")
            continue
        try:
            check, plain = measure(data, "check", args.runs), measure(data, "plain", args.runs)
        except RuntimeError as exc:
            print(f"teddy bench photos: {name}: {exc}", file=sys.stderr)
            return 1
        ratio = check["ms"] / plain["ms"]
        print(f"{name:<12} {len(data) / 1e6:>6.1f}MB  {check['ms']:>9.0f} "
              f"{check['peak_mb']:>9.0f}  {plain['ms']:>9.0f} {plain['peak_mb']:>9.0f}  "
              f"{ratio:>10.2f}", flush=True)
        summary[name] = {"bytes": len(data), "check": check, "plain": plain,
                         "time_ratio": ratio}
    print(json.dumps(summary))
    return 0

