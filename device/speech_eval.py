"""Score the recognisers on a fixture manifest (audio_fixtures/manifest.jsonl)."""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from device.audio.wav import SAMPLE_RATE, AudioInputError, load_wav_pcm16
from device.nlu import UNKNOWN
from device.speech import Understander


class ManifestError(ValueError):
    """The fixture manifest is missing or malformed."""


@dataclass
class Clip:
    file: Path
    text: str
    intent: str
    slots: dict
    locale: str
    condition: str
    split: str
    voice: str = ""
    age_band: str = "adult"
    rt60: float | None = None
    snr_db: float | None = None
    noise: str | None = None
    fixture_set: str = "legacy"
    room: str | None = None
    synth: str = "espeak-ng"

    @property
    def speaker(self) -> str:
        """One session: a simulated child (or adult), a voice at an age band.

        The child moves between places during the session (dry, rooms, noise).
        """
        return f"{self.voice}/{self.age_band}"

    @property
    def rt60_band(self) -> str:
        if self.rt60 is None:
            return "no room"
        if self.rt60 <= 0.3:
            return "RT60<=0.3"
        return "RT60 0.3-0.6" if self.rt60 <= 0.6 else "RT60>0.6"

    @property
    def snr_band(self) -> str:
        if self.snr_db is None:
            return "no noise" if self.noise is None else "sox noise 15dB"
        if self.snr_db < 7.5:
            return "SNR 0-5dB"
        return "SNR 10dB" if self.snr_db < 12.5 else "SNR 15-20dB"


# The live toy hands the recogniser audio in chunks while the child speaks;
# the eval does the same so that latency counts only what is left at the end.
CHUNK_SECONDS = 0.1


@dataclass
class Outcome:
    clip: Clip
    engine: str
    heard_text: str
    intent: str
    slots: dict
    asr_ms: float
    audio_seconds: float
    decode_ms: float = 0.0
    cpu_ms: float = 0.0
    tail_cpu_ms: float = 0.0
    confidence: float | None = None

    def as_row(self) -> dict:
        """One clip's result, for threshold studies on the tune split."""
        return {"file": self.clip.file.name, "split": self.clip.split,
                "expected": self.clip.intent, "intent": self.intent, "heard": self.heard_text,
                "correct": self.correct, "confidence": self.confidence,
                "age_band": self.clip.age_band, "condition": self.clip.condition,
                "voice": self.clip.voice, "tail_cpu_ms": round(self.tail_cpu_ms, 1)}

    @property
    def correct(self) -> bool:
        return self.intent == self.clip.intent and self.slots == self.clip.slots


@dataclass
class GroupScore:
    engine: str
    locale: str
    condition: str
    split: str
    clips: int
    intent_accuracy: float | None
    slot_accuracy: float | None
    false_accept_rate: float | None
    p50_ms: float
    p95_ms: float
    real_time_factor: float
    full_p50_ms: float = 0.0
    full_p95_ms: float = 0.0
    # The same from the process's CPU time: what one core does, however busy
    # the machine is with other work.
    cpu_p95_ms: float = 0.0
    cpu_real_time_factor: float = 0.0
    misses: list[dict] = field(default_factory=list)


def read_manifest(directory: Path) -> list[Clip]:
    path = directory / "manifest.jsonl"
    if not path.is_file():
        raise ManifestError(f"{path}: no fixture manifest")
    clips: list[Clip] = []
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            clips.append(Clip(
                directory / row["file"], row["text"], row["intent"], row.get("slots", {}),
                row.get("locale", "en"), row["condition"], row.get("split", "tune"),
                row.get("voice", ""), row.get("age_band", "adult"), row.get("rt60"),
                row.get("snr_db"), row.get("noise"), row.get("set", "legacy"),
                row.get("room"), row.get("synth", "espeak-ng"),
            ))
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise ManifestError(f"{path}:{number}: bad manifest line ({error})") from error
    return clips


def _percentile(values: list[float], fraction: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


def session_order(clips: list[Clip]) -> list[Clip]:
    """Clips grouped by speaker, as sessions with one child each.

    Within a session the order is a fixed shuffle (by file name hash), so a
    speaker's first utterances come from mixed rooms and noise, not all
    from the easy dry clips.
    """
    return sorted(clips, key=lambda c: (c.locale, c.speaker,
                                        hashlib.sha1(c.file.name.encode()).hexdigest()))


def run_clips(understander: Understander, clips: list[Clip],
              progress: Callable[[], None] | None = None,
              prepare: Callable[[bytes], bytes] | None = None) -> list[Outcome]:
    """Stream each clip in CHUNK_SECONDS chunks, as the microphone would.

    `asr_ms` is end of speech (the last chunk handed over) to intent;
    `decode_ms` is all the recogniser's work on the clip, chunks included.
    A new speaker starts a new session (the engine's per-speaker state, such
    as its vocal tract warp, starts afresh).
    """
    step = 2 * int(CHUNK_SECONDS * SAMPLE_RATE)
    engine = understander
    outcomes: list[Outcome] = []
    speaker = None
    for clip in clips:
        if clip.speaker != speaker:
            understander.new_session()
            speaker = clip.speaker
        try:
            pcm = load_wav_pcm16(clip.file)
        except AudioInputError as error:
            raise ManifestError(str(error)) from error
        if prepare is not None:  # whole-utterance processing, measured apart (not timed)
            pcm = prepare(pcm)
        chunks = [pcm[offset:offset + step] for offset in range(0, len(pcm), step)] or [b""]
        busy = 0.0
        began, cpu_began = time.perf_counter(), time.process_time()
        engine.start()
        for chunk in chunks[:-1]:
            engine.accept(chunk)
        busy += time.perf_counter() - began
        ended, cpu_ended = time.perf_counter(), time.process_time()
        engine.accept(chunks[-1])
        transcript = engine.finish()
        parsed = understander.parser.parse(transcript.text)
        tail = time.perf_counter() - ended
        cpu_done = time.process_time()
        outcomes.append(Outcome(
            clip, transcript.engine, transcript.text, parsed.intent, dict(parsed.slots),
            tail * 1000, len(pcm) / 2 / SAMPLE_RATE, (busy + tail) * 1000,
            (cpu_done - cpu_began) * 1000, (cpu_done - cpu_ended) * 1000,
            transcript.confidence,
        ))
        if progress is not None:
            progress()
    return outcomes


def score(outcomes: list[Outcome]) -> list[GroupScore]:
    groups: dict[tuple[str, str, str, str], list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        clip = outcome.clip
        groups[(outcome.engine, clip.locale, clip.condition, clip.split)].append(outcome)
        groups[(outcome.engine, clip.locale, clip.condition, "all")].append(outcome)
    scores: list[GroupScore] = []
    for (engine, locale, condition, split), members in sorted(groups.items()):
        in_domain = [o for o in members if o.clip.intent != UNKNOWN]
        out_domain = [o for o in members if o.clip.intent == UNKNOWN]
        with_slots = [o for o in in_domain if o.clip.slots]
        latencies = [o.asr_ms for o in members]
        decodes = [o.decode_ms for o in members]
        audio = sum(o.audio_seconds for o in members)
        scores.append(GroupScore(
            engine, locale, condition, split, len(members),
            intent_accuracy=(sum(o.correct for o in in_domain) / len(in_domain))
            if in_domain else None,
            slot_accuracy=(sum(o.slots == o.clip.slots for o in with_slots) / len(with_slots))
            if with_slots else None,
            false_accept_rate=(sum(o.intent != UNKNOWN for o in out_domain) / len(out_domain))
            if out_domain else None,
            p50_ms=_percentile(latencies, 0.50),
            p95_ms=_percentile(latencies, 0.95),
            real_time_factor=sum(decodes) / 1000 / audio if audio else 0.0,
            full_p50_ms=_percentile(decodes, 0.50),
            full_p95_ms=_percentile(decodes, 0.95),
            cpu_p95_ms=_percentile([o.tail_cpu_ms for o in members], 0.95),
            cpu_real_time_factor=sum(o.cpu_ms for o in members) / 1000 / audio if audio else 0.0,
            misses=[
                {"file": str(o.clip.file), "voice": o.clip.voice, "expected": o.clip.text,
                 "heard": o.heard_text, "intent": o.intent}
                for o in members if not o.correct
            ],
        ))
    return scores


@dataclass
class Gating:
    """What the toy did with each clip of a group.

    In-domain clips are accepted and right (intent and every slot: the
    command works), accepted and wrong, or rejected; out-of-domain clips are
    rejected or accepted (a false accept).
    """

    dimension: str
    value: str
    split: str
    clips: int = 0
    accepted_right: int = 0
    accepted_wrong: int = 0
    in_domain_rejected: int = 0
    ood_rejected: int = 0
    ood_accepted: int = 0

    @property
    def in_domain(self) -> int:
        return self.accepted_right + self.accepted_wrong + self.in_domain_rejected

    @property
    def out_of_domain(self) -> int:
        return self.ood_rejected + self.ood_accepted

    @property
    def command_acceptance(self) -> float | None:
        return self.accepted_right / self.in_domain if self.in_domain else None

    @property
    def wrong_accept_rate(self) -> float | None:
        return self.accepted_wrong / self.in_domain if self.in_domain else None

    @property
    def false_accept_rate(self) -> float | None:
        return self.ood_accepted / self.out_of_domain if self.out_of_domain else None

    def as_dict(self) -> dict:
        return {
            "dimension": self.dimension, "value": self.value, "split": self.split,
            "clips": self.clips, "accepted_right": self.accepted_right,
            "accepted_wrong": self.accepted_wrong, "in_domain_rejected": self.in_domain_rejected,
            "ood_rejected": self.ood_rejected, "ood_accepted": self.ood_accepted,
            "command_acceptance": self.command_acceptance,
            "wrong_accept_rate": self.wrong_accept_rate,
            "false_accept_rate": self.false_accept_rate,
        }


# How the listener fixtures are broken down in the report: one dimension at a
# time, and age band crossed with room and noise (the accuracy plot).
DIMENSIONS: dict[str, Callable[[Clip], str]] = {
    "condition": lambda c: c.condition,
    "age_band": lambda c: c.age_band,
    "rt60_band": lambda c: c.rt60_band,
    "snr_band": lambda c: c.snr_band,
    "age_band x condition": lambda c: f"{c.age_band} {c.condition}",
    "age_band x rt60_band": lambda c: f"{c.age_band} {c.rt60_band}",
    "age_band x snr_band": lambda c: f"{c.age_band} {c.snr_band}",
    "room<=0.6s, SNR>=10dB": lambda c: (
        f"{c.age_band} target" if c.rt60 is not None and c.rt60 <= 0.6
        and (c.snr_db is None or c.snr_db >= 10) else ""),
}


def gate(outcomes: list[Outcome]) -> list[Gating]:
    """The gating table of the listener fixtures: every dimension, per split and both."""
    table: dict[tuple[str, str, str, str], Gating] = {}
    for outcome in outcomes:
        clip = outcome.clip
        if clip.fixture_set != "listener":
            continue
        for dimension, value_of in DIMENSIONS.items():
            value = value_of(clip)
            if not value:
                continue
            for split in (clip.split, "all"):
                key = (clip.locale, dimension, value, split)
                row = table.setdefault(key, Gating(dimension, f"{clip.locale} {value}", split))
                row.clips += 1
                if clip.intent == UNKNOWN:
                    if outcome.intent == UNKNOWN:
                        row.ood_rejected += 1
                    else:
                        row.ood_accepted += 1
                elif outcome.intent == UNKNOWN:
                    row.in_domain_rejected += 1
                elif outcome.correct:
                    row.accepted_right += 1
                else:
                    row.accepted_wrong += 1
    return [table[key] for key in sorted(table)]


def heldout_leaks(rows: list[dict]) -> list[str]:
    """Held-out manifest rows that share a voice or a room with the tune split."""
    tune_voices = {r["voice"] for r in rows if r.get("split") == "tune"}
    tune_rooms = {r["room"] for r in rows if r.get("split") == "tune" and r.get("room")}
    leaks = []
    for row in rows:
        if row.get("split") != "heldout":
            continue
        if row.get("voice") in tune_voices:
            leaks.append(f"{row['file']}: tune voice {row['voice']}")
        if row.get("room") in tune_rooms:
            leaks.append(f"{row['file']}: tune room {row['room']}")
    return leaks


# --- plot ----------------------------------------------------------------------

PLOT_BANDS = ["adult", "9-11", "6-8", "4-5"]
PLOT_COLOURS = ["#1b5e20", "#1565c0", "#ef6c00", "#c62828"]
PLOT_PANELS = [
    ("age_band x snr_band", "household noise", ["no noise", "SNR 15-20dB", "SNR 10dB",
                                                "SNR 0-5dB"]),
    ("age_band x rt60_band", "room", ["no room", "RT60<=0.3", "RT60 0.3-0.6", "RT60>0.6"]),
]


def accuracy_svg(gating: list[Gating], split: str = "heldout", locale: str = "en") -> str:
    """Command acceptance against noise and reverberation, one line per age band (SVG)."""
    cells = {(g.dimension, g.value, g.split): g for g in gating}
    width, height, left, top, plot_w, plot_h = 820, 340, 60, 40, 320, 220
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>']
    for panel, (dimension, title, xs) in enumerate(PLOT_PANELS):
        x0 = left + panel * (plot_w + 90)
        out.append(f'<text x="{x0 + plot_w / 2}" y="{top - 15}" text-anchor="middle" '
                   f'font-size="13">Command acceptance vs {title} ({split}, {locale})</text>')
        out.append(f'<rect x="{x0}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
                   'stroke="#444"/>')
        for tick in range(0, 101, 20):
            y = top + plot_h * (1 - tick / 100)
            out.append(f'<line x1="{x0}" x2="{x0 + plot_w}" y1="{y}" y2="{y}" stroke="#ddd"/>')
            out.append(f'<text x="{x0 - 5}" y="{y + 4}" text-anchor="end">{tick}%</text>')
        step = plot_w / len(xs)
        for i, label in enumerate(xs):
            out.append(f'<text x="{x0 + step * (i + 0.5)}" y="{top + plot_h + 16}" '
                       f'text-anchor="middle">{escape(label)}</text>')
        for band, colour in zip(PLOT_BANDS, PLOT_COLOURS, strict=True):
            points = []
            for i, label in enumerate(xs):
                row = cells.get((dimension, f"{locale} {band} {label}", split))
                if row is not None and row.command_acceptance is not None:
                    points.append((x0 + step * (i + 0.5),
                                   top + plot_h * (1 - row.command_acceptance)))
            if points:
                path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
                out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                           'stroke-width="2"/>')
                out += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>'
                        for x, y in points]
    for i, (band, colour) in enumerate(zip(PLOT_BANDS, PLOT_COLOURS, strict=True)):
        x = left + i * 110
        out.append(f'<line x1="{x}" x2="{x + 20}" y1="{height - 25}" y2="{height - 25}" '
                   f'stroke="{colour}" stroke-width="3"/>')
        out.append(f'<text x="{x + 25}" y="{height - 21}">{band}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
