"""The testbed seams (teddy/contracts/seam.py, cloud/seam.py, device/seam.py): negative controls
change the cloud and the toy only at declared points, and nothing in production can turn a
seam on by accident.

The scenario stories that run each variant, violator and mutant through these seams (and must
still catch them) are tests/test_scenarios.py's negative-control and mutant tests.
"""

from __future__ import annotations

import argparse
import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cloud_helpers import make_app

from cloud import seam as cloud_seam
from cloud.config import CloudConfig
from cloud.parent_web.challenges import _digest, code_matches
from cloud.parent_web.verification import luhn_valid
from device import seam as toy_seam
from device.config import ToyConfig
from device.privacy.gate import EgressGate
from device.state import ToyState
from device.toy import Toy
from teddy.cli import build_parser
from teddy.contracts.seam import Honest, SeamError

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = ("cloud", "device", "teddy")
# Words an option, config key or variable would carry if it reached a seam.
SEAM_WORDS = ("seam", "testbed", "mutant", "variant", "violator")
VALID_CARD = "4111111111111111"


@pytest.fixture(autouse=True)
def no_seam_left_behind() -> Iterator[None]:
    yield
    cloud_seam.uninstall()
    toy_seam.uninstall()


class AcceptsAnyCard(cloud_seam.CloudSeam):
    def card_number_valid(self, honest: Honest, digits: str) -> bool:
        return True


class SeesRequests(cloud_seam.CloudSeam):
    def __init__(self) -> None:
        self.paths: list[str] = []

    def on_request(self, request: Any) -> None:
        self.paths.append(request.path)


def test_a_marked_function_is_honest_until_a_seam_is_installed() -> None:
    assert luhn_valid(VALID_CARD) and not luhn_valid("4111111111111112")
    cloud_seam.install(cloud_seam.CloudSeam(), testbed=True)  # the defaults: the real cloud
    assert luhn_valid(VALID_CARD) and not luhn_valid("4111111111111112")
    cloud_seam.install(AcceptsAnyCard(), testbed=True)
    assert luhn_valid("4111111111111112")
    cloud_seam.uninstall()
    assert not luhn_valid("4111111111111112")


class AcceptsAnyCode(cloud_seam.CloudSeam):
    def challenge_code_matches(self, honest: Honest, secret: str, stored_digest: str) -> bool:
        return True


def test_a_point_acts_only_where_it_is_overridden() -> None:
    sent = _digest("123456")
    assert code_matches(" 123456 ", sent) and not code_matches("654321", sent)
    cloud_seam.install(AcceptsAnyCard(), testbed=True)  # another point: codes still checked
    assert not code_matches("654321", sent)
    cloud_seam.install(AcceptsAnyCode(), testbed=True)
    assert code_matches("654321", sent) and not luhn_valid("4111111111111112")


def test_a_seam_needs_the_testbed_spelt_out() -> None:
    with pytest.raises(SeamError, match="testbed"):
        cloud_seam.install(AcceptsAnyCard(), testbed=False)
    with pytest.raises(SeamError, match="testbed"):
        cloud_seam.install(AcceptsAnyCard(), testbed="yes")  # type: ignore[arg-type]
    assert cloud_seam.installed() is None
    assert luhn_valid("4111111111111112") is False


def test_only_declared_points_can_be_overridden_or_marked() -> None:
    class Misspelt(cloud_seam.CloudSeam):
        def card_valid(self, honest: Honest, digits: str) -> bool:
            return True

    with pytest.raises(SeamError, match="card_valid"):
        cloud_seam.install(Misspelt(), testbed=True)
    with pytest.raises(SeamError, match="no declared cloud seam point"):
        cloud_seam.seam_point("card_valid")
    with pytest.raises(SeamError, match="is not a ToySeam"):
        toy_seam.install(AcceptsAnyCard(), testbed=True)  # type: ignore[arg-type]


def test_every_declared_point_marks_a_function() -> None:
    """A point no function is marked with would be a seam that changes nothing."""
    marked = {"on_request"}  # called by create_app, not a marked function
    for path in [*(ROOT / "cloud").rglob("*.py"), *(ROOT / "device").rglob("*.py")]:
        text = path.read_text("utf-8")
        if "seam_point(" not in text:
            continue
        for node in ast.walk(ast.parse(text)):
            if (isinstance(node, ast.Call) and ast.unparse(node.func) == "seam_point"
                    and isinstance(node.args[0], ast.Constant)):
                marked.add(node.args[0].value)
    declared = (cloud_seam.CloudSeam.declared_points()
                | toy_seam.ToySeam.declared_points())
    assert declared == marked


def test_the_app_hooks_requests_only_with_a_seam(tmp_path: Path) -> None:
    seen = SeesRequests()
    (tmp_path / "plain").mkdir()
    plain = make_app(tmp_path / "plain", purge_interval_s=0)
    hooks = [f.__name__ for f in plain.before_request_funcs.get(None, [])]
    assert "_seam_on_request" not in hooks
    cloud_seam.install(seen, testbed=True)
    app = make_app(tmp_path, purge_interval_s=0)
    assert "_seam_on_request" in [f.__name__ for f in app.before_request_funcs[None]]
    assert app.test_client().get("/healthz").status_code == 200
    assert seen.paths == ["/healthz"]


def test_the_app_and_the_toy_refuse_a_seam_set_behind_the_testbeds_back(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cloud_seam.CloudSeam._installed = AcceptsAnyCard()  # not through install(): no testbed
    with pytest.raises(SeamError, match="not installed for the testbed"):
        make_app(tmp_path, purge_interval_s=0)
    toy_seam.ToySeam._installed = toy_seam.ToySeam()
    with pytest.raises(SeamError, match="not installed for the testbed"):
        Toy(EgressGate(ToyState(tmp_path / "toy")))
    # Installed for the testbed, each says so on stderr as it starts.
    cloud_seam.install(AcceptsAnyCard(), testbed=True)
    make_app(tmp_path, purge_interval_s=0)
    assert "TESTBED seam 'AcceptsAnyCard'" in capsys.readouterr().err


# -- nothing in production reaches a seam ---------------------------------------------------


def option_words(parser: argparse.ArgumentParser) -> Iterator[str]:
    """Every subcommand name, option string and destination under `parser`."""
    for action in parser._actions:
        yield from action.option_strings
        yield action.dest
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield name
                yield from option_words(child)


def seam_words(words: Iterator[str]) -> set[str]:
    return {w for w in words if any(s in w.lower() for s in SEAM_WORDS)}


def production_commands(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every `teddy` command group but `scenarios`, the testbed itself (its --mutants runs
    negative controls as separate processes, never the user's toy or cloud)."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return (group for name, group in sub.choices.items() if name != "scenarios")


def test_no_command_line_option_reaches_a_seam() -> None:
    words = [w for group in production_commands(build_parser()) for w in option_words(group)]
    assert seam_words(iter(words)) == set()


def test_the_option_audit_catches_a_planted_testbed_option() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub.choices["cloud"].add_argument("--testbed-seam")
    words = [w for group in production_commands(parser) for w in option_words(group)]
    assert seam_words(iter(words)) == {"--testbed-seam", "testbed_seam"}


def test_no_config_key_or_variable_reaches_a_seam() -> None:
    assert seam_words(iter(CloudConfig.model_fields)) == set()
    assert seam_words(iter(ToyConfig.__dataclass_fields__)) == set()


def seam_installs(sources: dict[str, str]) -> list[str]:
    """Where a program installs a seam: a call to `install(...)` with a `testbed` keyword."""
    found = []
    for name, text in sources.items():
        if "testbed" not in text:
            continue
        for node in ast.walk(ast.parse(text)):
            if (isinstance(node, ast.Call) and "install" in ast.unparse(node.func)
                    and any(k.arg == "testbed" for k in node.keywords)):
                found.append(name)
    return found


def _production_sources() -> dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text("utf-8")
            for package in PRODUCTION for p in (ROOT / package).rglob("*.py")}


def test_only_the_testbed_installs_a_seam() -> None:
    assert seam_installs(_production_sources()) == []
    testbed = {str(p.relative_to(ROOT)): p.read_text("utf-8")
               for p in (ROOT / "scenarios").rglob("*.py")}
    assert sorted(seam_installs(testbed)) == ["scenarios/variants/cloud_wrapper.py",
                                              "scenarios/variants/toy_wrapper.py"]


def test_the_install_audit_catches_a_planted_install() -> None:
    planted = {**_production_sources(),
               "cloud/cli_planted.py": "seam.install(Broken(), testbed=True)\n"}
    assert seam_installs(planted) == ["cloud/cli_planted.py"]


# -- negative controls change the program through the seam, never by reassigning it -----------

PROGRAM_PACKAGES = ("cloud", "device", "teddy")
NEGATIVE_CONTROLS = ("scenarios/variants", "scenarios/violators")
MODULE_LOADERS = ("import_module", "__import__")


def _is_program(module: str) -> bool:
    return module.split(".")[0] in PROGRAM_PACKAGES


def _program_names(tree: ast.AST) -> set[str]:
    """Names bound to the program's modules (or to anything imported from them, a function
    or class being patchable too): by import, from-import, import_module or sys.modules."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.asname or alias.name.split(".")[0]
                      for alias in node.names if _is_program(alias.name)}
        elif isinstance(node, ast.ImportFrom) and _is_program(node.module or ""):
            names |= {alias.asname or alias.name for alias in node.names}
        elif isinstance(node, ast.Assign) and _loads_program_module(node.value):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def _loads_program_module(value: ast.expr) -> bool:
    if isinstance(value, ast.Call) and ast.unparse(value.func).split(".")[-1] in MODULE_LOADERS:
        first = value.args[0] if value.args else None
        return isinstance(first, ast.Constant) and _is_program(str(first.value))
    return ast.unparse(value).startswith("sys.modules[")


def _root(target: ast.expr) -> str:
    """`a` for `a.b.c`, `a.b[...]` and `vars(a)[...]`; `sys.modules[...]` stands for a
    module of its own."""
    while True:
        if isinstance(target, ast.Subscript) and ast.unparse(target).startswith("sys.modules["):
            return "sys.modules"
        if isinstance(target, ast.Attribute | ast.Subscript):
            target = target.value
        elif (isinstance(target, ast.Call) and ast.unparse(target.func) == "vars"
              and target.args):
            target = target.args[0]
        else:
            return target.id if isinstance(target, ast.Name) else ""


def attribute_patches(root: Path) -> list[str]:
    """Every place a negative control under `root` reassigns part of the program: an
    assignment to (or deletion of) an attribute or item of an imported cloud/device/teddy
    name, or setattr/delattr on one."""
    found = []
    for folder in NEGATIVE_CONTROLS:
        for path in sorted((root / folder).rglob("*.py")):
            tree = ast.parse(path.read_text("utf-8"))
            program = _program_names(tree) | {"sys.modules"}
            for node in ast.walk(tree):
                targets: list[ast.expr] = []
                if isinstance(node, ast.Assign | ast.Delete):
                    targets = list(node.targets)
                elif isinstance(node, ast.AugAssign | ast.AnnAssign):
                    targets = [node.target]
                elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                      and node.func.id in ("setattr", "delattr") and node.args):
                    targets = [ast.Attribute(value=node.args[0], attr="?")]
                for target in targets:
                    for part in ast.walk(target):  # tuple targets: a, mod.f = ...
                        if (isinstance(part, ast.Attribute | ast.Subscript)
                                and _root(part) in program):
                            found.append(f"{path.relative_to(root)}:{node.lineno}: "
                                         f"{ast.unparse(node).splitlines()[0]}")
                            break
                    else:
                        continue
                    break
    return found


def test_no_negative_control_patches_the_program_by_name() -> None:
    assert attribute_patches(ROOT) == []


OLD_STYLE_PATCHES = {
    "module_alias.py": "import cloud.child_data as child_data\n"
                       "child_data.export_document = lambda *a, **k: {}\n",
    "dotted.py": "import cloud.consent\ncloud.consent.current_policy = print\n",
    "from_import.py": "from cloud.parent_web import challenges\n"
                      "from types import SimpleNamespace\n"
                      "challenges.hmac = SimpleNamespace(compare_digest=lambda a, b: True)\n",
    "set_attr.py": "def patch():\n    import cloud.parent_web.consent_pages as pages\n"
                   "    for name in ('check_card',):\n        setattr(pages, name, print)\n",
    "function_attr.py": "from teddy.content import compose_reply\n"
                        "compose_reply.__code__ = (lambda *a, **k: '').__code__\n",
    "loaded.py": "import importlib\nroutes = importlib.import_module('cloud.device_api.routes')\n"
                 "routes._policy, x = print, 1\n",
    "modules_dict.py": "import sys\nsys.modules['device.toy'].Toy = object\n",
    "vars_dict.py": "import device.privacy.gate as gate\nvars(gate)['EgressGate'] = object\n",
}


def test_the_patch_audit_catches_planted_old_style_patches(tmp_path: Path) -> None:
    planted = tmp_path / "scenarios" / "violators"
    planted.mkdir(parents=True)
    for name, source in OLD_STYLE_PATCHES.items():
        (planted / name).write_text(source, "utf-8")
    # A seam subclass setting its own and its arguments' attributes is no patch.
    (planted / "seam_style.py").write_text(
        "from cloud.seam import CloudSeam\nimport json\n"
        "class Caches(CloudSeam):\n    def __init__(self):\n        self.cache = {}\n"
        "    def decide(self, honest, gate):\n        gate.policy = None\n"
        "json.loads = json.loads\n", "utf-8")
    flagged = {line.split(":")[0].rsplit("/", 1)[-1] for line in attribute_patches(tmp_path)}
    assert flagged == set(OLD_STYLE_PATCHES)
