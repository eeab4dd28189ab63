"""`teddy device benchmark`: every engine side by side, per synthesiser, from one run.

The cells are the issue's targets: adult clean and noisy speech, each age
band dry, rooms (RT60 <= 0.6 s) and rooms with household noise at >= 10 dB,
each with its false accepts (out-of-domain clips of the same cell). Only
held-out clips count: no threshold or adaptation was chosen on them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass

from device.nlu import UNKNOWN
from device.speech_eval import Clip, Outcome, _percentile, run_clips, session_order

DEFAULT_ENGINES = ("moonshine", "pocketsphinx:off", "pocketsphinx:corpus-map")
CELL_ORDER = ("adult clean", "adult noisy", "9-11 dry", "6-8 dry", "4-5 dry",
              "rooms", "rooms+noise")


def cell_of(clip: Clip) -> str | None:
    """The target cell a held-out English clip belongs to, if any."""
    if clip.locale != "en" or clip.split != "heldout":
        return None
    in_target_room = clip.rt60 is not None and clip.rt60 <= 0.6
    if clip.condition in ("clean", "ood") or (clip.condition == "dry"
                                               and clip.age_band == "adult"):
        return "adult clean"
    if clip.condition == "noisy":
        return "adult noisy"
    if clip.condition == "dry":
        return f"{clip.age_band} dry"
    if clip.condition == "room" and in_target_room:
        return "rooms"
    if clip.condition == "room+noise" and in_target_room and (clip.snr_db or 0) >= 10:
        return "rooms+noise"
    return None


@dataclass(frozen=True)
class Cell:
    engine: str
    synth: str
    cell: str
    commands: int
    right: int
    ood: int
    false_accepts: int
    cpu_p95_ms: float
    cpu_real_time_factor: float

    @property
    def accuracy(self) -> float | None:
        return self.right / self.commands if self.commands else None

    @property
    def false_accept_rate(self) -> float | None:
        return self.false_accepts / self.ood if self.ood else None

    def as_dict(self) -> dict:
        return asdict(self) | {"accuracy": self.accuracy,
                               "false_accept_rate": self.false_accept_rate}


def cells(label: str, outcomes: list[Outcome]) -> list[Cell]:
    grouped: dict[tuple[str, str], list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        cell = cell_of(outcome.clip)
        if cell is not None:
            grouped[(outcome.clip.synth, cell)].append(outcome)
            grouped[(outcome.clip.synth, "all")].append(outcome)
    result = []
    for (synth, cell), members in grouped.items():
        commands = [o for o in members if o.clip.intent != UNKNOWN]
        ood = [o for o in members if o.clip.intent == UNKNOWN]
        audio = sum(o.audio_seconds for o in members)
        result.append(Cell(
            label, synth, cell, len(commands), sum(o.correct for o in commands), len(ood),
            sum(o.intent != UNKNOWN for o in ood),
            _percentile([o.tail_cpu_ms for o in members], 0.95),
            sum(o.cpu_ms for o in members) / 1000 / audio if audio else 0.0))
    order = {name: i for i, name in enumerate((*CELL_ORDER, "all"))}
    return sorted(result, key=lambda c: (c.synth, order.get(c.cell, 99)))


def benchmark_clips(clips: list[Clip]) -> list[Clip]:
    return session_order([c for c in clips if cell_of(c) is not None])


def run_engine(label: str, clips: list[Clip], make_understander: Callable,
               progress: Callable[[], None] | None = None) -> list[Cell]:
    """`label` is "engine" or "engine:adaptation" (PocketSphinx)."""
    engine, _, adaptation = label.partition(":")
    understander = make_understander(engine, adaptation or None)
    return cells(label, run_clips(understander, clips, progress=progress))


def _figure(cell: Cell | None) -> str:
    if cell is None:
        return "-"
    accuracy = "-" if cell.accuracy is None else f"{cell.accuracy:.0%}"
    fa = "-" if cell.false_accept_rate is None else \
        f"{cell.false_accepts}/{cell.ood}"
    return f"{accuracy} ({cell.commands}) FA {fa}"


def table(results: list[Cell]) -> str:
    """Rows: synthesiser x cell; columns: engines."""
    engines = list(dict.fromkeys(c.engine for c in results))
    index = {(c.engine, c.synth, c.cell): c for c in results}
    rows = sorted({(c.synth, c.cell) for c in results},
                  key=lambda k: (k[0], (*CELL_ORDER, "all").index(k[1])))
    width = 28
    lines = [f"{'synth':<11}{'cell':<13}" + "".join(f"{e:>{width}}" for e in engines)]
    for synth, cell in rows:
        lines.append(f"{synth:<11}{cell:<13}" + "".join(
            f"{_figure(index.get((e, synth, cell))):>{width}}" for e in engines))
    lines.append("")
    for engine in engines:
        for synth in dict.fromkeys(s for s, _ in rows):
            every = index.get((engine, synth, "all"))
            if every is not None:
                lines.append(f"{engine} on {synth}: end-of-speech CPU p95 "
                             f"{every.cpu_p95_ms:.0f} ms, CPU RTF "
                             f"{every.cpu_real_time_factor:.3f}")
    return "\n".join(lines)
