"""Score the recognisers on a fixture manifest (audio_fixtures/manifest.jsonl)."""

from __future__ import annotations

import json
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
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
                row.get("voice", ""),
            ))
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise ManifestError(f"{path}:{number}: bad manifest line ({error})") from error
    return clips


def _percentile(values: list[float], fraction: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


def run_clips(understander: Understander, clips: list[Clip]) -> list[Outcome]:
    """Stream each clip in CHUNK_SECONDS chunks, as the microphone would.

    `asr_ms` is end of speech (the last chunk handed over) to intent;
    `decode_ms` is all the recogniser's work on the clip, chunks included.
    """
    step = 2 * int(CHUNK_SECONDS * SAMPLE_RATE)
    engine = understander.engine
    outcomes: list[Outcome] = []
    for clip in clips:
        try:
            pcm = load_wav_pcm16(clip.file)
        except AudioInputError as error:
            raise ManifestError(str(error)) from error
        chunks = [pcm[offset:offset + step] for offset in range(0, len(pcm), step)] or [b""]
        busy = 0.0
        began = time.perf_counter()
        engine.start()
        for chunk in chunks[:-1]:
            engine.accept(chunk)
        busy += time.perf_counter() - began
        ended = time.perf_counter()
        engine.accept(chunks[-1])
        transcript = engine.finish()
        parsed = understander.parser.parse(transcript.text)
        tail = time.perf_counter() - ended
        outcomes.append(Outcome(
            clip, transcript.engine, transcript.text, parsed.intent, dict(parsed.slots),
            tail * 1000, len(pcm) / 2 / SAMPLE_RATE, (busy + tail) * 1000,
        ))
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
            misses=[
                {"file": str(o.clip.file), "voice": o.clip.voice, "expected": o.clip.text,
                 "heard": o.heard_text, "intent": o.intent}
                for o in members if not o.correct
            ],
        ))
    return scores
