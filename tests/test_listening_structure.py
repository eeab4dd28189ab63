"""Structure: microphone audio reaches the recogniser only through the one pipeline.

Read from the source (AST), so a new shortcut fails here before any microphone is needed:
- the functions in device/ that call the recogniser directly are a short reviewed list, with
  Toy.recognise (which wipes the clip) the only one on the listening path;
- no function that takes audio from the microphone calls the recogniser itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

from device.listening import Ignored, WakeGate, Woke
from device.locales import locale_profile

DEVICE = Path(__file__).resolve().parent.parent / "device"
# Where the recogniser is defined: its own calls between stages are not a use of it.
RECOGNISER_HOME = ("asr/", "speech.py")
RECOGNISER_METHODS = {"hear", "hear_stream", "accept", "finish"}
RECOGNISER_NAMES = ("understander", "engine")
MICROPHONE_SOURCES = {"capture_chunks", "microphone_utterances", "_push_to_talk_utterances"}
# Each entry reviewed: the one listening stage, and tools that read WAV files from disk.
DIRECT_RECOGNISER_CALLS = {
    "toy.py:Toy.recognise",  # the listening pipeline's only recognition stage; wipes the clip
    "cli.py:_hear_files",  # `teddy device hear FILES`: recognition of files, no toy
    "speech_eval.py:run_clips",  # accuracy evaluation over the fixture clips
}


def _functions(tree: ast.Module) -> list[tuple[str, ast.AST]]:
    found: list[tuple[str, ast.AST]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                found.append((prefix + child.name, child))
                visit(child, f"{prefix}{child.name}.")
    visit(tree, "")
    return found


def _own_nodes(function: ast.AST) -> list[ast.AST]:
    """The function's nodes, nested functions left to their own entry."""
    nodes: list[ast.AST] = []
    stack = list(ast.iter_child_nodes(function))
    while stack:
        node = stack.pop()
        nodes.append(node)
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            stack.extend(ast.iter_child_nodes(node))
    return nodes


def _calls_recogniser(node: ast.AST) -> bool:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return False
    receiver = ast.unparse(node.func.value).lower()
    return node.func.attr in RECOGNISER_METHODS and receiver.endswith(RECOGNISER_NAMES)


def _takes_microphone_audio(node: ast.AST) -> bool:
    return ((isinstance(node, ast.Name) and node.id in MICROPHONE_SOURCES)
            or (isinstance(node, ast.Attribute) and node.attr in MICROPHONE_SOURCES))


def audit(sources: dict[str, str]) -> tuple[set[str], set[str]]:
    """(functions calling the recogniser directly, those of them also taking microphone audio)"""
    direct: set[str] = set()
    from_microphone: set[str] = set()
    for name, text in sources.items():
        for qualified, function in _functions(ast.parse(text)):
            nodes = _own_nodes(function)
            if any(_calls_recogniser(n) for n in nodes):
                direct.add(f"{name}:{qualified}")
                if any(_takes_microphone_audio(n) for n in nodes):
                    from_microphone.add(f"{name}:{qualified}")
    return direct, from_microphone


def _device_sources() -> dict[str, str]:
    return {str(path.relative_to(DEVICE)): path.read_text("utf-8")
            for path in sorted(DEVICE.rglob("*.py"))
            if not str(path.relative_to(DEVICE)).startswith(RECOGNISER_HOME)}


def test_only_the_pipeline_hears_microphone_audio() -> None:
    direct, from_microphone = audit(_device_sources())
    assert from_microphone == set()
    assert direct == DIRECT_RECOGNISER_CALLS


# Negative control: `teddy device listen` as it was, recognising the endpointer's utterances
# itself and never calling Toy.hear, so nothing wiped them.
OLD_LISTEN = '''
def _listen(args):
    from device.audio.microphone import capture_chunks
    understander = _load_understander(args)
    for raw in capture_chunks(args.device, stop=stop):
        for utterance in endpointer.feed(raw):
            heard = understander.hear(utterance)
            handle(heard)
'''


def test_the_audit_catches_a_listen_loop_that_bypasses_the_pipeline() -> None:
    sources = {**_device_sources(), "cli_old.py": OLD_LISTEN}
    direct, from_microphone = audit(sources)
    assert from_microphone == {"cli_old.py:_listen"}
    assert direct - DIRECT_RECOGNISER_CALLS == {"cli_old.py:_listen"}


def test_wake_mode_admits_one_request_per_wake_phrase() -> None:
    gate = WakeGate("wake", locale_profile("en"))
    assert gate.admit("tell me a joke") == Ignored("tell me a joke")
    assert gate.admit("hey teddy") == Woke("hey teddy")
    assert gate.admit("tell me a joke") is None
    assert isinstance(gate.admit("tell me a joke"), Ignored)
    continuous = WakeGate("continuous", locale_profile("en"))
    assert [continuous.admit("tell me a joke") for _ in range(3)] == [None, None, None]
