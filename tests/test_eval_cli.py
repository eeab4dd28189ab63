"""`teddy device eval` scores a fixture manifest for real."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from xml.dom import minidom

from speech_helpers import FIXTURES, ROOT, manifest_rows


def _subset(tmp_path, rows: list[dict]) -> None:
    for row in rows:
        target = tmp_path / row["file"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(FIXTURES / row["file"], target)
    with (tmp_path / "manifest.jsonl").open("w") as manifest:
        for row in rows:
            manifest.write(json.dumps(row) + "\n")


def run_eval(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "teddy", "device", "eval", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_eval_reports_accuracy_false_accepts_and_latency(tmp_path) -> None:
    rows = manifest_rows()
    english = [r for r in rows if r["locale"] == "en"]
    pick = [r for r in english if r["condition"] == "clean"][:6]
    pick += [r for r in english if r["condition"] == "ood"][:3]
    # A deliberately wrong label must count against accuracy.
    wrong = dict(pick[0], intent="sing_song", slots={"song": "happy birthday"})
    _subset(tmp_path, [*pick, wrong])
    result = run_eval(str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    groups = {(g["condition"], g["split"]): g for g in report["groups"]}
    clean = groups[("clean", "all")]
    assert clean["clips"] == 7 and clean["intent_accuracy"] <= 6 / 7
    assert 0 <= groups[("ood", "all")]["false_accept_rate"] <= 1
    assert clean["p95_ms"] >= clean["p50_ms"] > 0 and clean["real_time_factor"] > 0
    # Clips are streamed in chunks: the whole decode includes the tail after
    # end of speech, so it can never be shorter.
    assert clean["full_p95_ms"] >= clean["p95_ms"] and clean["full_p50_ms"] >= clean["p50_ms"]
    # Load time is a benchmark figure (docs/speech.md), reported, not asserted against a clock.
    assert all(seconds > 0 for seconds in report["model_load_seconds"].values())
    assert set(report["model_load_seconds"]) <= {"moonshine/en", "pocketsphinx/en"}
    # The table is the same report laid out for a terminal: the quick engine is enough for it.
    table = run_eval(str(tmp_path), "--engine", "pocketsphinx")
    assert "intent" in table.stdout and "p95 ms" in table.stdout and "ood" in table.stdout


def test_eval_of_a_directory_without_manifest_is_a_clear_error(tmp_path) -> None:
    result = run_eval(str(tmp_path))
    assert result.returncode == 2 and "manifest.jsonl" in result.stderr


def test_eval_with_a_missing_clip_names_it(tmp_path) -> None:
    (tmp_path / "manifest.jsonl").write_text(json.dumps({
        "file": "gone.wav", "text": "hello teddy", "intent": "greet", "slots": {},
        "locale": "en", "condition": "clean"}) + "\n")
    result = run_eval(str(tmp_path))
    assert result.returncode == 2 and "gone.wav" in result.stderr


def test_eval_reports_the_gating_table_by_age_band_room_and_noise(tmp_path) -> None:
    rows = [r for r in manifest_rows() if r.get("set") == "listener" and r["split"] == "tune"]
    child = next(r for r in rows if r["age_band"] == "9-11" and r["condition"] == "dry"
                 and r["intent"] != "unknown")
    noisy = next(r for r in rows if r["condition"] == "room+noise" and r["intent"] != "unknown")
    ood = next(r for r in rows if r["age_band"] == "4-5" and r["intent"] == "unknown")
    # Negative control: a clip labelled with the wrong command can never count as right.
    wrong = dict(child, intent="sing_song", slots={"song": "happy birthday"})
    _subset(tmp_path, [child, noisy, ood, wrong])
    result = run_eval(str(tmp_path), "--json", "--vtln", "off")
    assert result.returncode == 0, result.stderr
    assert "4/4" in result.stderr  # progress while it runs
    report = json.loads(result.stdout)
    gating = {(g["dimension"], g["value"], g["split"]): g for g in report["gating"]}
    band = gating[("age_band", "en 9-11", "tune")]
    assert band["clips"] == 2 and band["accepted_right"] <= 1
    assert band["accepted_right"] + band["accepted_wrong"] + band["in_domain_rejected"] == 2
    assert ("rt60_band", "en " + _rt60_band(noisy["rt60"]), "tune") in gating
    snr = gating[("snr_band", "en " + _snr_band(noisy["snr_db"]), "tune")]
    assert snr["clips"] == 1
    young = gating[("age_band", "en 4-5", "tune")]
    assert young["ood_rejected"] + young["ood_accepted"] == 1
    assert young["command_acceptance"] is None
    assert len(report["clips"]) == 4
    plot = tmp_path / "plot.svg"
    table = run_eval(str(tmp_path), "--vtln", "off", "--quiet", "--plot", str(plot))
    assert "gating" in table.stdout and table.stderr == ""
    svg = minidom.parse(str(plot)).documentElement  # well-formed, labels like RT60<=0.3 escaped
    assert svg.tagName == "svg" and svg.getElementsByTagName("polyline")


def _rt60_band(rt60: float) -> str:
    return "RT60<=0.3" if rt60 <= 0.3 else "RT60 0.3-0.6" if rt60 <= 0.6 else "RT60>0.6"


def _snr_band(snr: float) -> str:
    return "SNR 0-5dB" if snr < 7.5 else "SNR 10dB" if snr < 12.5 else "SNR 15-20dB"


def test_eval_names_the_acoustic_adaptation_and_refuses_an_unknown_one(tmp_path) -> None:
    rows = [r for r in manifest_rows() if r["locale"] == "en" and r["condition"] == "clean"]
    _subset(tmp_path, rows[:1])
    result = run_eval(str(tmp_path), "--json", "--quiet", "--adapt", "off")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["adaptation"] == {"pocketsphinx/en": "off"}
    table = run_eval(str(tmp_path), "--quiet", "--adapt", "corpus-map")
    assert "acoustic adaptation: corpus-map" in table.stdout, table.stderr
    # Negative control: a name that is not shipped is a clear error, not a silent default.
    refused = run_eval(str(tmp_path), "--quiet", "--adapt", "no-such-adaptation")
    assert refused.returncode == 2 and "no adaptation 'no-such-adaptation'" in refused.stderr


def test_benchmark_json_is_one_document_of_cells() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "teddy", "device", "benchmark", "--engines", "pocketsphinx:off",
         "--every", "400", "--quiet", "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert list(report) == ["cells"] and report["cells"]
    assert {"engine", "synth", "cell", "commands", "right", "accuracy",
            "cpu_real_time_factor"} <= set(report["cells"][0])
    assert {cell["engine"] for cell in report["cells"]} == {"pocketsphinx:off"}
