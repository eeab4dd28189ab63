"""The toy's real listeners and rooms, for the fixture generator.

Child-like voices (Praat's "Change gender" through praat-parselmouth), rooms
(pyroomacoustics image-source method) and household noise (television or radio
speech, music, kitchen clatter), all deterministic given a seeded
``numpy.random.Generator``.
"""

from __future__ import annotations

import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import parselmouth
import pyroomacoustics as pra
from parselmouth.praat import call, run
from scipy.signal import butter, fftconvolve, sosfilt

SAMPLE_RATE = 16_000
# Peak level of the dry (close-talking) speech; rooms scale it by distance.
DRY_PEAK = 0.5


@dataclass(frozen=True)
class AgeBand:
    """How a child's voice differs from an adult's.

    A shorter vocal tract raises every formant together (``formant_ratio``);
    children also speak higher (``pitch_median_hz``), with a wider pitch range,
    and more slowly and more variably (``duration_range``: each clip draws its
    own stretch factor from it).
    """

    name: str
    formant_ratio: float
    pitch_median_hz: float
    pitch_range_factor: float
    duration_range: tuple[float, float]


ADULT = AgeBand("adult", 1.0, 0.0, 1.0, (1.0, 1.0))
AGE_BANDS = [
    ADULT,
    AgeBand("9-11", 1.1, 230.0, 1.1, (1.0, 1.15)),
    AgeBand("6-8", 1.2, 260.0, 1.2, (1.1, 1.3)),
    AgeBand("4-5", 1.3, 300.0, 1.3, (1.2, 1.45)),
]


def childlike(wav: Path, band: AgeBand, rng: np.random.Generator) -> np.ndarray:
    """The voice in ``wav`` as a speaker of ``band``: float samples at 16 kHz."""
    sound = parselmouth.Sound(str(wav))
    if band.formant_ratio != 1.0:
        duration = float(rng.uniform(*band.duration_range))
        # Praat's overlap-add draws random numbers (unvoiced stretches): seed
        # its generator from the input, so the clip is the same on every run.
        seed = zlib.crc32(wav.read_bytes()) ^ int(duration * 1e6)
        run(f"random_initializeWithSeedUnsafelyButPredictably ({seed})")
        sound = call(sound, "Change gender", 75, 600, band.formant_ratio,
                     band.pitch_median_hz, band.pitch_range_factor, duration)
    sound = call(sound, "Resample", SAMPLE_RATE, 50)
    samples = np.asarray(sound.values[0], dtype=np.float64)
    peak = np.abs(samples).max()
    return samples * (DRY_PEAK / peak) if peak > 0 else samples


@dataclass(frozen=True)
class Room:
    name: str
    dims: tuple[float, float, float]
    rt60: float
    split: str


# Tune rooms may be used for choices; held-out rooms never are.
ROOMS = [
    Room("bedroom-a", (3.4, 3.0, 2.5), 0.25, "tune"),
    Room("living-a", (5.0, 4.2, 2.6), 0.45, "tune"),
    Room("playroom-a", (4.4, 3.6, 2.7), 0.6, "tune"),
    Room("living-b", (6.5, 4.8, 2.8), 0.8, "tune"),
    Room("bedroom-h", (3.8, 3.2, 2.4), 0.2, "heldout"),
    Room("living-h", (5.6, 4.4, 2.7), 0.4, "heldout"),
    Room("playroom-h", (4.8, 4.0, 2.6), 0.55, "heldout"),
    Room("living-h2", (7.0, 5.2, 3.0), 0.75, "heldout"),
]
DISTANCE_RANGE = (0.3, 3.0)


def _inside(point: np.ndarray, dims: tuple[float, float, float], margin: float = 0.25) -> bool:
    return bool(np.all(point > margin) and np.all(point < np.asarray(dims) - margin))


def room_impulses(room: Room, distance: float, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Impulse responses from a child ``distance`` m away and from a noise source.

    The toy sits low (0.5-0.9 m), the child's mouth is 0.6-1.2 m high, the
    noise source (a television, a radio, the kitchen) is elsewhere in the room.
    Scaled so that speech 1 m away keeps its dry level.
    """
    dims = room.dims
    for _ in range(1000):
        mic = np.array([rng.uniform(0.3, dims[0] - 0.3), rng.uniform(0.3, dims[1] - 0.3),
                        rng.uniform(0.5, 0.9)])
        angle = rng.uniform(0, 2 * np.pi)
        height = rng.uniform(0.6, 1.2)
        flat = np.sqrt(max(distance**2 - (height - mic[2]) ** 2, 0.01))
        mouth = mic + np.array([flat * np.cos(angle), flat * np.sin(angle), height - mic[2]])
        if _inside(mouth, dims):
            break
    else:  # pragma: no cover - every room here fits 3 m
        raise ValueError(f"{room.name}: cannot place a speaker {distance} m from the toy")
    noise_source = np.array([dims[0] - 0.4, dims[1] - 0.4, 1.0])
    absorption, max_order = pra.inverse_sabine(room.rt60, list(dims))
    shoebox = pra.ShoeBox(list(dims), fs=SAMPLE_RATE, materials=pra.Material(absorption),
                          max_order=max_order)
    shoebox.add_source(list(mouth))
    shoebox.add_source(list(noise_source))
    shoebox.add_microphone(list(mic))
    shoebox.compute_rir()
    scale = 4 * np.pi  # direct path of a source 1 m away has gain 1/(4 pi)
    return np.asarray(shoebox.rir[0][0]) * scale, np.asarray(shoebox.rir[0][1]) * scale


def reverberate(speech: np.ndarray, impulse: np.ndarray, tail_seconds: float = 0.3
                ) -> np.ndarray:
    wet = fftconvolve(speech, impulse)
    return wet[: len(speech) + int(tail_seconds * SAMPLE_RATE)]


# --- household noise --------------------------------------------------------------

TV_VOICES = ["en-gb-scotland+m1", "en-gb-x-gbclan+f1", "en-gb-x-gbcwmd+m2", "en-us+f1"]
TV_LINES = [
    "good evening and welcome to the news at six",
    "the weather tomorrow will be cloudy with some rain in the north",
    "scientists say the new bridge will open next spring",
    "and now over to our reporter in the city centre",
    "traffic is heavy on the main road this evening",
    "the team won their match by two goals to one",
    "stay with us after the break for the latest headlines",
    "prices in the shops rose again this month",
    "the museum has a new exhibition about the ocean",
    "a warm welcome to everyone watching at home",
]
NOISE_KINDS = ["tv", "music", "clatter"]


def television(seconds: float, rng: np.random.Generator, work: Path) -> np.ndarray:
    """Other voices from a television: espeak-ng presenters through a small speaker."""
    pieces: list[np.ndarray] = []
    total = 0
    while total < seconds * SAMPLE_RATE:
        voice = TV_VOICES[int(rng.integers(len(TV_VOICES)))]
        line = TV_LINES[int(rng.integers(len(TV_LINES)))]
        raw = work / "tv.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(int(rng.integers(150, 190))),
                        "-w", str(raw), line], check=True)
        sound = call(parselmouth.Sound(str(raw)), "Resample", SAMPLE_RATE, 50)
        pieces.append(np.asarray(sound.values[0]))
        pieces.append(np.zeros(int(rng.uniform(0.05, 0.3) * SAMPLE_RATE)))
        total += sum(len(p) for p in pieces[-2:])
    track = np.concatenate(pieces)[: int(seconds * SAMPLE_RATE)]
    speaker = butter(4, [200, 5000], btype="bandpass", fs=SAMPLE_RATE, output="sos")
    return sosfilt(speaker, track)


def music(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A synthetic tune: melody and bass in a pentatonic scale with a hi-hat."""
    count = int(seconds * SAMPLE_RATE)
    out = np.zeros(count + 4 * SAMPLE_RATE)
    scale = [0, 2, 4, 7, 9, 12, 14, 16]
    beat = 60.0 / rng.uniform(90, 130)
    root = 220.0 * 2 ** (int(rng.integers(0, 7)) / 12)
    position = 0.0
    while position < seconds:
        length = beat * float(rng.choice([0.5, 1.0, 1.0, 2.0]))
        start = int(position * SAMPLE_RATE)
        t = np.arange(int(length * SAMPLE_RATE)) / SAMPLE_RATE
        freq = root * 2 ** (scale[int(rng.integers(len(scale)))] / 12)
        envelope = np.exp(-t * 4.0) * np.minimum(1.0, t * 200)
        note = sum(np.sin(2 * np.pi * freq * k * t) / k**1.5 for k in range(1, 6))
        bass = np.sin(2 * np.pi * root / 2 * t) * 0.6
        out[start:start + len(t)] += envelope * note + 0.5 * envelope * bass
        hat = rng.normal(0, 0.15, min(400, len(t))) * np.exp(-np.arange(min(400, len(t))) / 80)
        out[start:start + len(hat)] += hat
        position += length
    return out[:count]


def clatter(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Kitchen: running water with dishes and cutlery knocking (ringing transients)."""
    count = int(seconds * SAMPLE_RATE)
    water = sosfilt(butter(2, [800, 6000], btype="bandpass", fs=SAMPLE_RATE, output="sos"),
                    rng.normal(0, 0.05, count))
    out = water * float(rng.uniform(0.2, 1.0))
    events = rng.poisson(2.0 * seconds)
    for _ in range(int(events)):
        start = int(rng.uniform(0, seconds) * SAMPLE_RATE)
        length = int(rng.uniform(0.08, 0.4) * SAMPLE_RATE)
        t = np.arange(length) / SAMPLE_RATE
        decay = np.exp(-t / rng.uniform(0.02, 0.12))
        ring = sum(np.sin(2 * np.pi * rng.uniform(900, 7000) * t + rng.uniform(0, 6.3))
                   for _ in range(4))
        knock = rng.normal(0, 1.0, length) * np.exp(-t / 0.004)
        event = (ring * 0.4 + knock) * decay * rng.uniform(0.3, 1.0)
        end = min(count, start + length)
        out[start:end] += event[: end - start]
    return out


def household_noise(kind: str, seconds: float, rng: np.random.Generator, work: Path
                    ) -> np.ndarray:
    if kind == "tv":
        return television(seconds, rng, work)
    if kind == "music":
        return music(seconds, rng)
    if kind == "clatter":
        return clatter(seconds, rng)
    raise ValueError(f"unknown noise kind {kind!r}")


def active_power(speech: np.ndarray) -> float:
    """Mean power over the frames within 30 dB of the loudest (the speech itself)."""
    frames = speech[: len(speech) // 160 * 160].reshape(-1, 160)
    power = (frames**2).mean(axis=1)
    return float(power[power > power.max() * 1e-3].mean())


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    noise = noise[: len(speech)]
    gain = np.sqrt(active_power(speech) / (np.mean(noise**2) * 10 ** (snr_db / 10)))
    return speech + gain * noise


def to_pcm16(samples: np.ndarray) -> bytes:
    peak = np.abs(samples).max()
    if peak > 0.95:  # the toy's microphone would clip: keep just below full scale
        samples = samples * (0.95 / peak)
    return np.round(samples * 32767).astype("<i2").tobytes()
