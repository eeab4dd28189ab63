"""A corpus for acoustic adaptation: voices and rooms the fixtures never use.

The tune split of the fixtures is where choices are made and the held-out split
is where results are reported, so adaptation data drawn from either would make
one of them optimistic. This corpus has voices of its own (espeak-ng dialects
and variants that are neither tune nor held-out voices, and none of the
held-out voices' dialects or variants) and rooms of its own, with the same
listeners (every age band, dry, in a room, in a room with household noise).
Sentences come from the templates. Each clip draws from its own random stream,
so the corpus is the same on every run and with any number of worker processes:

    python audio_fixtures/adaptation_corpus.py OUT_DIR [--clips N] [--workers N]

OUT_DIR gets the WAVs and a ``manifest.jsonl`` (rows with ``"set": "adapt"``),
which ``adapt.py --manifest`` reads.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from audio_fixtures import acoustics  # noqa: E402
from audio_fixtures.generate import HELDOUT_VOICES, PAD_SECONDS, TUNE_VOICES  # noqa: E402
from device.audio.wav import SAMPLE_RATE, write_wav_pcm16  # noqa: E402
from device.nlu.sampler import sample_sentences  # noqa: E402

SEED = 20261201
# Dialects and variants of neither split; none of the held-out voices' dialects
# (en-gb-x-rp, en-us-nyc, en-029) or variants (f4, klatt*, m7), and none of the
# television presenters in the household noise.
ADAPT_VOICES = [
    "en-us+f2", "en-us+f5", "en-us+m1", "en-us+m2", "en-us+m4", "en-us+m6",
    "en-us+m5", "en-us+m8", "en-gb-scotland+f5", "en-gb-scotland+m2",
    "en-gb-x-gbclan+f5", "en-gb-x-gbclan+m4", "en-gb-x-gbcwmd+f2", "en-gb-x-gbcwmd+m6",
]
# espeak-ng ignores a variant on some voices ("en-gb+f1" is "en-gb"), so a name
# is not proof of a new voice: the leak check compares what the voices say.
PROBE_TEXT = "hello teddy tell me a story"
ROOM_COUNT = 8
POSITIONS_PER_ROOM = 6
RT60_RANGE = (0.2, 0.8)
CONDITION_WEIGHTS = {"dry": 0.2, "room": 0.35, "room+noise": 0.45}
SNRS_DB = [0.0, 5.0, 10.0, 15.0, 20.0]
# The size of the corpus the shipped corpus-map was adapted on.
DEFAULT_CLIPS = 2400


class CorpusError(ValueError):
    """The corpus would overlap the fixtures' tune or held-out split."""


def _dialect_and_variant(voice: str) -> tuple[str, str]:
    dialect, _, variant = voice.partition("+")
    return dialect, variant


def _variant_family(variant: str) -> str:
    """klatt, klatt2 ... klatt6 share one synthesiser; other variants stand alone."""
    return "klatt" if variant.startswith("klatt") else variant


def _voice_print(voice: str) -> str:
    done = subprocess.run(["espeak-ng", "-v", voice, "--stdout", PROBE_TEXT],
                          capture_output=True, check=True)
    return hashlib.sha256(done.stdout).hexdigest()


def corpus_leaks(voices: list[str], room_names: list[str]) -> list[str]:
    """What in a corpus of these voices and rooms would overlap the fixtures' splits."""
    leaks = []
    heldout = [_dialect_and_variant(v) for v in HELDOUT_VOICES]
    fixture_prints = {_voice_print(v): v for v in TUNE_VOICES + HELDOUT_VOICES}
    for voice in voices:
        same = fixture_prints.get(_voice_print(voice))
        if same:
            leaks.append(f"voice {voice} sounds exactly like the fixture voice {same}")
            continue
        dialect, variant = _dialect_and_variant(voice)
        if any(dialect == d for d, _ in heldout):
            leaks.append(f"voice {voice} has a held-out dialect")
        if variant and any(_variant_family(variant) == _variant_family(v) for _, v in heldout):
            leaks.append(f"voice {voice} has a held-out variant")
    fixture_rooms = {room.name for room in acoustics.ROOMS}
    leaks += [f"room {name} is a fixture room" for name in room_names if name in fixture_rooms]
    return leaks


def adaptation_rooms(seed: int = SEED) -> list[acoustics.Room]:
    """Bedroom- to living-room-sized rooms, RT60 spread evenly over the range."""
    rng = np.random.default_rng([seed, 0])
    rt60s = np.linspace(*RT60_RANGE, ROOM_COUNT)
    rooms = []
    for index, rt60 in enumerate(rt60s):
        dims = (round(float(rng.uniform(3.2, 7.0)), 2), round(float(rng.uniform(3.0, 5.2)), 2),
                round(float(rng.uniform(2.4, 3.0)), 2))
        rooms.append(acoustics.Room(f"adapt-{index}", dims, round(float(rt60), 3), "adapt"))
    return rooms


@dataclass(frozen=True)
class Placement:
    room: acoustics.Room
    distance: float
    speech_ir: np.ndarray
    noise_ir: np.ndarray


def _placements(room_index: int, seed: int, positions: int) -> list[Placement]:
    room = adaptation_rooms(seed)[room_index]
    rng = np.random.default_rng([seed, 1, room_index])
    low, high = acoustics.DISTANCE_RANGE
    edges = np.linspace(low, high, positions + 1)
    out = []
    for start, end in zip(edges[:-1], edges[1:], strict=True):
        distance = round(float(rng.uniform(start, end)), 2)
        speech_ir, noise_ir = acoustics.room_impulses(room, distance, rng)
        out.append(Placement(room, distance, speech_ir, noise_ir))
    return out


def _jobs(count: int, seed: int) -> list[dict]:
    """What each clip says, in which voice, band and condition."""
    rng = np.random.default_rng([seed, 2])
    sentences = []
    draw = 0
    while len(sentences) < count:
        sentences += sample_sentences("en", 40, seed=1000 + draw)
        draw += 1
    order = rng.permutation(len(sentences))[:count]
    conditions = list(CONDITION_WEIGHTS)
    weights = np.array(list(CONDITION_WEIGHTS.values()))
    jobs = []
    for index, sentence_index in enumerate(order):
        sample = sentences[int(sentence_index)]
        jobs.append({
            "index": index, "text": sample.text, "intent": sample.intent, "slots": sample.slots,
            "voice": ADAPT_VOICES[int(rng.integers(len(ADAPT_VOICES)))],
            "band": acoustics.AGE_BANDS[int(rng.integers(len(acoustics.AGE_BANDS)))].name,
            "condition": conditions[int(rng.choice(len(conditions), p=weights / weights.sum()))],
        })
    return jobs


_PLACEMENTS: list[list[Placement]] = []


def _init_worker(placements: list[list[Placement]]) -> None:
    _PLACEMENTS[:] = placements


def _render(job: dict, seed: int, out: Path) -> dict:
    rng = np.random.default_rng([seed, 3, job["index"]])
    band = next(b for b in acoustics.AGE_BANDS if b.name == job["band"])
    with tempfile.TemporaryDirectory(prefix="teddy-corpus-") as tmp:
        work = Path(tmp)
        raw = work / "speech.wav"
        speed = int(rng.integers(140, 176))
        subprocess.run(["espeak-ng", "-v", job["voice"], "-s", str(speed), "-w", str(raw),
                        job["text"]], check=True)
        speech = np.concatenate([np.zeros(int(PAD_SECONDS[0] * SAMPLE_RATE)),
                                 acoustics.childlike(raw, band, rng),
                                 np.zeros(int(PAD_SECONDS[1] * SAMPLE_RATE))])
        fields: dict = {"voice": job["voice"], "speed": speed, "age_band": band.name,
                        "condition": job["condition"]}
        if job["condition"] != "dry":
            room_placements = _PLACEMENTS[int(rng.integers(len(_PLACEMENTS)))]
            placement = room_placements[int(rng.integers(len(room_placements)))]
            speech = acoustics.reverberate(speech, placement.speech_ir)
            fields |= {"room": placement.room.name, "rt60": placement.room.rt60,
                       "distance_m": placement.distance}
            if job["condition"] == "room+noise":
                kind = acoustics.NOISE_KINDS[int(rng.integers(len(acoustics.NOISE_KINDS)))]
                snr = SNRS_DB[int(rng.integers(len(SNRS_DB)))]
                noise = acoustics.household_noise(kind, len(speech) / SAMPLE_RATE + 0.1,
                                                  rng, work)
                noise = acoustics.reverberate(noise, placement.noise_ir)
                speech = acoustics.mix_at_snr(speech, noise, snr)
                fields |= {"noise": kind, "snr_db": snr}
    pcm = acoustics.to_pcm16(speech)
    tag = job["condition"].replace("+", "_")
    relative = f"adapt_{job['index']:05d}_{band.name}_{tag}.wav"
    write_wav_pcm16(out / relative, pcm)
    return {"file": relative, "text": job["text"], "intent": job["intent"],
            "slots": job["slots"], "locale": "en", "split": "adapt", "set": "adapt",
            "sha256": hashlib.sha256((out / relative).read_bytes()).hexdigest(), **fields}


def generate(out: Path, count: int = DEFAULT_CLIPS, workers: int = 2, seed: int = SEED,
             progress: bool = False, positions: int = POSITIONS_PER_ROOM) -> Path:
    """Write ``count`` clips and ``manifest.jsonl`` into ``out``; return the manifest.

    ``positions``: speaker positions per room (each an impulse response, the
    slow part), spread over the distance range.
    """
    if count < 1:
        raise CorpusError("a corpus needs at least one clip")
    leaks = corpus_leaks(ADAPT_VOICES, [room.name for room in adaptation_rooms(seed)])
    if leaks:
        raise CorpusError("; ".join(leaks))
    out.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        placements = list(pool.map(_placements, range(ROOM_COUNT), [seed] * ROOM_COUNT,
                                    [positions] * ROOM_COUNT))
    jobs = _jobs(count, seed)
    rows = []
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker,
                             initargs=(placements,)) as pool:
        for done, row in enumerate(pool.map(_render, jobs, [seed] * count, [out] * count,
                                            chunksize=8), start=1):
            rows.append(row)
            if progress and (done % 50 == 0 or done == count):
                print(f"\r{done}/{count} clips", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    manifest = out / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n"
                                for row in rows), encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for the clips and manifest.jsonl")
    parser.add_argument("--clips", type=int, default=DEFAULT_CLIPS)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    try:
        manifest = generate(args.out, args.clips, max(1, args.workers), progress=True)
    except CorpusError as error:
        print(f"adaptation corpus: {error}", file=sys.stderr)
        return 2
    print(f"{manifest}: {args.clips} clips")
    return 0


if __name__ == "__main__":
    sys.exit(main())
