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
                                              "scenarios/variants/mutants.py"]


def test_the_install_audit_catches_a_planted_install() -> None:
    planted = {**_production_sources(),
               "cloud/cli_planted.py": "seam.install(Broken(), testbed=True)\n"}
    assert seam_installs(planted) == ["cloud/cli_planted.py"]
