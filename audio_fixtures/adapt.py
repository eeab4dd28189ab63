"""Adapt the en-us acoustic model to child-like speech in rooms (never on held-out clips).

Uses Debian's SphinxTrain (`bw`, `map_adapt`, `mllr_solve`), sphinxbase-utils
(`sphinx_fe`) and `pocketsphinx_mdef_convert` (Debian's `pocketsphinx`) on the
model the PocketSphinx wheel ships. The output is either MAP-adapted Gaussian
means (a 0.8 MB file the decoder loads as `mean`) or one global MLLR transform
(a few kB, loaded as `mllr`), plus a manifest naming every input clip with its
hash, the tool versions and the output's hash, so the result can be checked
and rebuilt:

    python audio_fixtures/adapt.py NAME [--method map|mllr] [--passes N] [--manifest FILE]...
                                        [--where KEY=VALUE[,VALUE]]...

It reads the command clips of the fixtures' tune split (the adult-voice set
and the listener set: children, rooms, household noise) and of an adaptation
corpus (`adaptation_corpus.py`: voices and rooms of neither split); held-out
clips are refused, so held-out figures stay a fair test. Each clip is fed
exactly as the engine hears it: the same lead-in and tail, the same noise
floor."""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from device.asr import pocketsphinx_engine as ps  # noqa: E402
from device.asr.sphinx_files import read_sendump, write_s3_array  # noqa: E402
from device.audio.wav import AudioInputError, load_wav_pcm16  # noqa: E402

ADAPTATION_DIR = ROOT.parent / "device" / "asr" / "adaptation"
SPHINXTRAIN = Path("/usr/lib/sphinxtrain")
TOOLS = {
    "bw": SPHINXTRAIN / "bw",
    "mllr_solve": SPHINXTRAIN / "mllr_solve",
    "map_adapt": SPHINXTRAIN / "map_adapt",
    "sphinx_fe": Path("/usr/bin/sphinx_fe"),
    "pocketsphinx_mdef_convert": Path("/usr/bin/pocketsphinx_mdef_convert"),
}
# Method -> the extension of what it writes.
METHODS = {"map": "means", "mllr": "mllr"}
DEBIAN_PACKAGES = ("sphinxtrain", "sphinxbase-utils", "pocketsphinx")
# Front-end options of the model's feat.params that sphinx_fe understands;
# noise removal as the decoder does it, no silence removal (the transcript
# has to cover every frame) and no dither (the noise floor is already there).
FE_KEYS = ("lowerf", "upperf", "nfilt", "transform", "lifter", "remove_noise")


class AdaptationError(RuntimeError):
    """Adaptation cannot run (missing tool, bad selection, a tool failed)."""


def check_tools() -> None:
    missing = [name for name, path in TOOLS.items() if not path.exists()]
    if missing:
        raise AdaptationError(
            f"missing {', '.join(missing)}: apt-get install {' '.join(DEBIAN_PACKAGES)}")


def parse_where(items: list[str]) -> dict[str, set[str]]:
    where: dict[str, set[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key or not values:
            raise AdaptationError(f"--where takes KEY=VALUE[,VALUE], not {item!r}")
        where[key] = set(values.split(","))
    return where


# The fixtures' tune split, and the adaptation corpus (its own voices and rooms).
ADAPTATION_SPLITS = {"tune", "adapt"}


def select_clips(rows: list[dict], where: dict[str, set[str]]) -> list[dict]:
    """In-domain English tune-split or corpus rows matching `where`."""
    if "split" in where and not where["split"] <= ADAPTATION_SPLITS:
        raise AdaptationError("adaptation reads the tune split and the adaptation corpus "
                              "only, never held-out clips")
    chosen = []
    for row in rows:
        if row.get("split") not in ADAPTATION_SPLITS or row.get("locale") != "en" \
                or not row.get("intent"):
            continue
        if row.get("condition") == "ood" or row["intent"] == "unknown":
            continue
        fields = {"set": row.get("set", "legacy"), **{k: str(v) for k, v in row.items()}}
        if all(fields.get(key) in values for key, values in where.items()):
            chosen.append(row)
    if not chosen:
        raise AdaptationError(f"no tune-split command clips match {where}")
    return chosen


def engine_audio(pcm: bytes) -> bytes:
    """The clip as the engine's decoders see it: lead-in, clip, tail, noise floor."""
    lead = b"\x00\x00" * int(ps.LEAD_SILENCE_SECONDS * ps.SAMPLE_RATE)
    tail = b"\x00\x00" * int(ps.TAIL_SILENCE_SECONDS * ps.SAMPLE_RATE)
    samples = np.frombuffer(lead + pcm + tail, dtype="<i2").astype(np.float64)
    samples += np.random.default_rng(0).normal(0.0, ps.COMFORT_NOISE_STD, len(samples))
    return np.clip(np.round(samples), -32768, 32767).astype("<i2").tobytes()


def _run(command: list[str], log: Path) -> None:
    with log.open("a") as out:
        out.write("$ " + " ".join(command) + "\n")
        out.flush()
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = log.read_text().splitlines()[-15:]
        raise AdaptationError(f"{Path(command[0]).name} failed:\n" + "\n".join(tail))


def _feat_params(model: Path) -> dict[str, str]:
    params = {}
    for line in (model / "feat.params").read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].startswith("-"):
            params[parts[0][1:]] = parts[1]
    return params


def _shown(path: Path) -> str:
    """A path as the manifest records it: relative to the repository when inside it."""
    resolved = path.resolve()
    try:
        return str(resolved.relative_to(ROOT.parent))
    except ValueError:
        return str(resolved)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _package_version(name: str) -> str:
    done = subprocess.run(["dpkg-query", "-W", "-f=${Version}", name],
                          capture_output=True, text=True, check=False)
    return done.stdout.strip() or "unknown"


def adapt(clips: list[dict], output: Path, work: Path, method: str = "map",
          passes: int = 1) -> Path:
    """Adapt the en-us model to `clips` (rows with an absolute "path"); write `output`.

    "mllr": one global MLLR transform (a few kB, given to the decoder as `mllr`).
    "map": MAP re-estimated Gaussian means (the model's means file, 0.8 MB,
    given to the decoder as `mean`); variances, mixture weights and transitions
    stay the model's own, which on the tune split did as well as adapting them.
    Each further MAP pass aligns the clips again with the means of the pass
    before and takes those means as its prior.
    """
    if method not in METHODS:
        raise AdaptationError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if passes < 1 or (method == "mllr" and passes != 1):
        raise AdaptationError("passes must be at least 1 (MAP) or exactly 1 (MLLR)")
    check_tools()
    hmm, dictionary, _phones = (Path(p) for p in ps._model_paths())
    params = _feat_params(hmm)
    features = work / "feat"
    features.mkdir(parents=True, exist_ok=True)
    ids = []
    transcripts = []
    for index, row in enumerate(clips):
        fileid = f"u{index:04d}"
        (features / f"{fileid}.raw").write_bytes(engine_audio(load_wav_pcm16(row["path"])))
        ids.append(fileid)
        transcripts.append(f"<s> {row['text']} </s> ({fileid})")
    (work / "adapt.fileids").write_text("\n".join(ids) + "\n")
    (work / "adapt.transcription").write_text("\n".join(transcripts) + "\n")
    log = work / "adapt.log"
    fe = [str(TOOLS["sphinx_fe"]), "-c", str(work / "adapt.fileids"), "-di", str(features),
          "-do", str(features), "-ei", "raw", "-eo", "mfc", "-raw", "yes",
          "-samprate", str(ps.SAMPLE_RATE), "-remove_silence", "no", "-dither", "no"]
    for key in FE_KEYS:
        if key in params:
            fe += [f"-{key}", params[key]]
    _run(fe, log)
    # The model in the forms SphinxTrain reads: text mdef, float mixture weights.
    model = work / "model"
    model.mkdir(exist_ok=True)
    _run([str(TOOLS["pocketsphinx_mdef_convert"]), "-text", str(hmm / "mdef"),
          str(model / "mdef.txt")], log)
    write_s3_array(model / "mixture_weights", read_sendump(hmm / "sendump").astype(np.float32))
    # Only the words of the transcripts: loading all of cmudict is slow.
    words = {w for line in transcripts for w in line.split()[1:-2]}
    entries = [line for line in dictionary.read_text().splitlines()
               if line.split(" ", 1)[0] in words]
    (model / "adapt.dict").write_text("\n".join(entries) + "\n")
    means = hmm / "means"
    for number in range(1, passes + 1):
        accum = work / f"accum{number}"
        accum.mkdir(exist_ok=True)
        _run([str(TOOLS["bw"]), "-moddeffn", str(model / "mdef.txt"), "-ts2cbfn", ".ptm.",
              "-mixwfn", str(model / "mixture_weights"), "-meanfn", str(means),
              "-varfn", str(hmm / "variances"), "-tmatfn", str(hmm / "transition_matrices"),
              "-dictfn", str(model / "adapt.dict"), "-fdictfn", str(hmm / "noisedict"),
              "-ctlfn", str(work / "adapt.fileids"),
              "-lsnfn", str(work / "adapt.transcription"),
              "-cepdir", str(features), "-cepext", "mfc", "-feat", params["feat"],
              "-svspec", params["svspec"], "-cmn", "current", "-agc", params["agc"],
              "-accumdir", str(accum)], log)
        if method == "mllr":
            _run([str(TOOLS["mllr_solve"]), "-meanfn", str(means),
                  "-varfn", str(hmm / "variances"), "-outmllrfn", str(output),
                  "-accumdir", str(accum)], log)
            break
        adapted = output if number == passes else work / f"pass{number}.means"
        _run([str(TOOLS["map_adapt"]), "-moddeffn", str(model / "mdef.txt"), "-ts2cbfn",
              ".ptm.", "-meanfn", str(means), "-varfn", str(hmm / "variances"),
              "-mixwfn", str(model / "mixture_weights"),
              "-tmatfn", str(hmm / "transition_matrices"), "-accumdir", str(accum),
              "-mapmeanfn", str(adapted), "-mapvarfn", str(work / "map.variances"),
              "-mapmixwfn", str(work / "map.mixture_weights"),
              "-maptmatfn", str(work / "map.transition_matrices")], log)
        means = adapted
    return output


def load_rows(manifest: Path) -> list[dict]:
    rows = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    for row in rows:
        row["path"] = str(manifest.parent / row["file"])
    return rows


def _in_corpus(row: dict) -> bool:
    return row.get("set") == "adapt"


def _corpus_record(manifest: Path, rows: list[dict]) -> dict:
    for row in rows:
        if _sha256(Path(row["path"])) != row["sha256"]:
            raise AdaptationError(f"{row['path']} is not the clip its corpus manifest names")
    size = sum(1 for line in manifest.read_text().splitlines() if line.strip())
    return {"generator": "audio_fixtures/adaptation_corpus.py", "corpus_clips": size,
            "rebuild": f"python audio_fixtures/adaptation_corpus.py DIR --clips {size}",
            "clips": len(rows), "manifest_sha256": _sha256(manifest)}


def build(name: str, where: dict[str, set[str]], manifests: list[Path],
          out_dir: Path = ADAPTATION_DIR, method: str = "map",
          keep: Path | None = None, passes: int = 1) -> dict:
    """Adapt on the selected tune or corpus clips; write NAME.<method output> and NAME.json."""
    if not name.replace("-", "").replace("_", "").isalnum():
        raise AdaptationError(f"adaptation name must be letters, digits, - or _: {name!r}")
    chosen = {manifest: select_clips(load_rows(manifest), where) for manifest in manifests}
    clips = [row for rows in chosen.values() for row in rows]
    corpus_manifests = {m for m, rows in chosen.items() if any(_in_corpus(r) for r in rows)}
    # Checked before the adaptation runs: a changed corpus clip is refused, not learnt.
    corpora = [_corpus_record(manifest, chosen[manifest]) for manifest in manifests
               if manifest in corpus_manifests]
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / f"{name}.{METHODS[method]}"
    work = Path(tempfile.mkdtemp(prefix="teddy-adapt-")) if keep is None else keep
    try:
        adapt(clips, output, work, method, passes)
    except AudioInputError as error:
        raise AdaptationError(str(error)) from error
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
    record = {
        "name": name,
        "method": method,
        "passes": passes,
        "where": {key: sorted(values) for key, values in sorted(where.items())},
        "manifests": [_shown(m) for m in manifests if m not in corpus_manifests],
        "tools": {pkg: _package_version(pkg) for pkg in DEBIAN_PACKAGES},
        "model_means_sha256": _sha256(Path(ps._model_paths()[0]) / "means"),
        "clips": [{"file": _shown(Path(row["path"])),
                   "text": row["text"], "sha256": _sha256(Path(row["path"]))}
                  for row in clips if not _in_corpus(row)],
        # A corpus is rebuilt by its generator, not kept: its manifest names
        # every clip with its hash, and the manifest's own hash is kept here.
        "corpora": corpora,
        "output": output.name,
        "output_sha256": _sha256(output),
    }
    (out_dir / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="adaptation name (written as NAME.means|NAME.mllr "
                                     "and NAME.json)")
    parser.add_argument("--method", choices=sorted(METHODS), default="map")
    parser.add_argument("--passes", type=int, default=1,
                        help="MAP passes, each aligning with the means of the one before")
    parser.add_argument("--manifest", type=Path, action="append",
                        help="manifest(s) to take tune clips from (default: "
                             "audio_fixtures/manifest.jsonl)")
    parser.add_argument("--where", action="append", default=[],
                        help="KEY=VALUE[,VALUE]: keep rows whose KEY is one of the values "
                             "(e.g. age_band=6-8,4-5 or condition=room,room+noise)")
    parser.add_argument("--out", type=Path, default=ADAPTATION_DIR)
    parser.add_argument("--keep", type=Path, help="keep the work files in this folder")
    args = parser.parse_args(argv)
    try:
        manifests = args.manifest or [ROOT / "manifest.jsonl"]
        record = build(args.name, parse_where(args.where), manifests, out_dir=args.out,
                       method=args.method, keep=args.keep, passes=args.passes)
    except AdaptationError as error:
        print(f"adapt: {error}", file=sys.stderr)
        return 2
    clips = len(record["clips"]) + sum(corpus["clips"] for corpus in record["corpora"])
    print(f"{args.out / record['output']}: {clips} clips, "
          f"sha256 {record['output_sha256'][:16]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
