"""`teddy scenarios run [FILES...]`: play privacy scenarios and report rule by rule."""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
import time
from pathlib import Path

from scenarios.model import ScenarioError
from teddy import DISTRIBUTION
from teddy.json_output import JsonSink, add_json_options, wants_json


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    scenarios = subparsers.add_parser("scenarios", help="run privacy scenarios")
    sub = scenarios.add_subparsers(dest="scenarios_command", required=True)
    run = sub.add_parser("run", help="run scenario files (default: the whole catalogue)")
    run.add_argument("files", nargs="*", type=Path, help="scenario YAML files")
    add_json_options(run, "the report")
    run.add_argument("--junit", type=Path, help="write a JUnit XML report here")
    run.add_argument("--html", type=Path, help="write a self-contained HTML report here")
    run.add_argument("--jobs", type=int, default=4, help="scenarios run at once")
    run.add_argument("--keep", type=Path, help="copy each scenario's files (db, logs) here")
    run.add_argument("--toy-command", metavar="TEMPLATE",
                     help="test another toy: a command speaking the toy agent's JSON-lines "
                          "protocol; {state}, {cloud}, {clock_file} and {ca_file} are filled in "
                          "(see docs/scenarios.md)")
    run.add_argument("--cloud-command", metavar="TEMPLATE",
                     help="test another cloud: a command serving the device API and parent "
                          "pages on {host}:{port}, with {workdir} as its folder")
    run.add_argument("--cloud-mail-command", metavar="TEMPLATE",
                     help="with --cloud-command: a command printing the e-mail the cloud sent "
                          "to {to} (sign-up links); {workdir} is the cloud's folder")
    run.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite",
                     help="the database Teddy's cloud keeps its data in: a SQLite file per "
                          "story (default), or a private PostgreSQL server started for the "
                          "run with a fresh database per story")
    run.add_argument("--mutants", action="store_true",
                     help="also replay targeted scenarios against automated mutants of the "
                          "cloud and toy, and score every check kind")
    run.set_defaults(handler=_run)
    listing = sub.add_parser("list", help="list the catalogue's scenarios and their rules")
    add_json_options(listing, "the list")
    listing.set_defaults(handler=_list)
    toy = sub.add_parser("example-toy",
                         help="a minimal black-box toy written without Teddy's code, for "
                              "--toy-command (see docs/scenarios.md)")
    toy.add_argument("--state", required=True, help="the toy's private folder")
    toy.add_argument("--cloud", required=True, help="the cloud's URL")
    toy.add_argument("--clock-file", help="a file holding the clock offset in seconds")
    toy.set_defaults(handler=_example_toy)
    cloud = sub.add_parser("example-cloud",
                           help="Teddy's own cloud as a black box, for --cloud-command: "
                                "serves on HOST:PORT with its data in WORKDIR")
    cloud.add_argument("--host", required=True, help="address to listen on")
    cloud.add_argument("--port", required=True, type=int, help="port to listen on")
    cloud.add_argument("--workdir", required=True, type=Path, help="the cloud's data folder")
    cloud.set_defaults(handler=_example_cloud)
    mail = sub.add_parser("example-cloud-mail",
                          help="the e-mail example-cloud sent, for --cloud-mail-command")
    mail.add_argument("--workdir", required=True, type=Path, help="example-cloud's folder")
    mail.add_argument("--to", required=True, help="the recipient's address")
    mail.set_defaults(handler=_example_cloud_mail)
    rules = sub.add_parser("rules", help="print the rulebook (IDs and titles, or docs/rules.md)")
    rules.add_argument("--markdown", action="store_true",
                       help="print the whole rulebook as Markdown (this is docs/rules.md)")
    add_json_options(rules, "every rule (id, group, title, text, sources)")
    rules.set_defaults(handler=_rules)


def _run(args: argparse.Namespace) -> int:
    from scenarios import reports
    from scenarios.runner import catalogue_files, load_scenarios, run_all

    if args.jobs < 1:
        print("teddy scenarios run: --jobs must be at least 1", file=sys.stderr)
        return 2
    files = args.files or catalogue_files()
    try:
        scenarios = load_scenarios(files)
    except ScenarioError as exc:
        print(f"teddy scenarios run: {exc}", file=sys.stderr)
        return 2
    if not scenarios:
        print("teddy scenarios run: no scenario files given or found", file=sys.stderr)
        return 2
    started = time.perf_counter()

    def progress(result: object) -> None:
        from scenarios.runner import ScenarioResult

        assert isinstance(result, ScenarioResult)
        print(f"  {result.status.upper():4}  {result.scenario.name} ({result.seconds:.1f} s)",
              file=sys.stderr, flush=True)

    from scenarios.scoring import mutant_scenarios, score
    from scenarios.target import Target

    target = Target(toy_command=args.toy_command, cloud_command=args.cloud_command,
                    mail_command=args.cloud_mail_command)
    try:  # a bad template is refused before anything starts
        if args.toy_command:
            target.toy_argv(state="s", cloud="c", clock_file="f", ca_file="a")
        if args.cloud_command:
            target.cloud_argv(host="h", port=1, workdir="w")
        if args.cloud_mail_command:
            if not args.cloud_command:
                raise ValueError("--cloud-mail-command reads a black-box cloud's mail: give "
                                 "--cloud-command too")
            target.mail_argv(to="t", workdir="w")
        if args.cloud_command and args.backend != "sqlite":
            raise ValueError("--backend chooses the database of Teddy's own cloud; a cloud "
                             "given with --cloud-command keeps its data its own way")
    except ValueError as exc:
        print(f"teddy scenarios run: {exc}", file=sys.stderr)
        return 2

    lacking = missing_modules()
    if lacking:
        module, what = lacking[0]
        print(f"teddy scenarios run: this installation lacks {module!r} ({what}); the scenarios "
              f"run Teddy's toy and cloud: install the [all] extra: pip install "
              f"'{DISTRIBUTION}[all]'", file=sys.stderr)
        return 2
    from scenarios.processes import HarnessError
    from scenarios.runner import preflight

    try:
        preflight(target)
    except HarnessError as exc:
        print(f"teddy scenarios run: ERROR (nothing was checked): {exc}", file=sys.stderr)
        return 2

    from scenarios.backend import story_databases
    from scenarios.variants.mutants import not_applicable_mutants

    mutated = mutant_scenarios(scenarios, args.backend) if args.mutants else []
    skipped_mutants = not_applicable_mutants(args.backend) if args.mutants else {}
    if not target.white_box:
        print(f"Target: {target.describe()}", file=sys.stderr)
    try:
        databases = story_databases(args.backend)
        databases.__enter__()
    except (RuntimeError, OSError) as exc:  # e.g. PostgreSQL is not installed here
        print(f"teddy scenarios run: could not start the {args.backend} backend: {exc}",
              file=sys.stderr)
        return 2
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        print(f"Backend: {databases.describe()}", file=sys.stderr)
        print(f"Running {len(scenarios)} scenarios"
              + (f" and {len(mutated)} mutation runs" if mutated else "")
              + f", {args.jobs} at a time...", file=sys.stderr)
        everything = run_all(scenarios + mutated, jobs=args.jobs, keep_dir=args.keep,
                             on_done=progress, target=target, databases=databases)
    finally:
        signal.signal(signal.SIGTERM, previous)
        databases.__exit__(None, None, None)
    results = [r for r in everything if r.scenario.mutant is None]
    mutant_results = [r for r in everything if r.scenario.mutant is not None]
    wall = time.perf_counter() - started
    run = reports.RunInfo.collect(
        wall_s=wall, score=score(results, mutant_results, skipped_mutants),
        target=target.describe(), backend=args.backend, backend_detail=databases.describe())
    # With --json, stdout holds only the JSON report; the table goes to stderr.
    text_out = sys.stderr if args.json else sys.stdout
    print(reports.console(results, run), file=text_out)
    print(f"Wall time: {wall:.1f} s", file=text_out)
    JsonSink(args).document(reports.to_json(results, run))
    for path, write in ((args.junit, reports.write_junit), (args.html, reports.write_html)):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            write(results, path, run)
    return _verdict_line(results)


# What the run's exit status means (docs/scenarios.md): 2 is also every usage error.
EXIT_CODES = {"pass": 0, "fail": 1, "error": 2, "incomplete": 3}


def _verdict_line(results: list) -> int:  # type: ignore[type-arg]
    """The run's verdict as its exit status, with one line on stderr when it is not a pass."""
    from scenarios.reports import rule_verdicts, run_status

    status = run_status(results)
    if status == "error":
        broken = next(r for r in results if r.status == "error")
        first = str(broken.error).splitlines()[0]
        print(f"teddy scenarios run: ERROR (the testbed could not run it, nothing was checked): "
              f"{broken.scenario.name}: {first}", file=sys.stderr)
    elif status == "incomplete":
        unchecked = [v.rule for v in rule_verdicts(results)
                     if v.in_scope and v.status in ("not checkable", "not covered")]
        print(f"teddy scenarios run: INCOMPLETE: {len(unchecked)} of the rules these stories check "
              f"could not be checked through this interface ({' '.join(unchecked)}); "
              "see the rule table", file=sys.stderr)
    return EXIT_CODES[status]


# What every run needs installed, whatever the target: negative controls always run Teddy's own
# toy and cloud variants.
NEEDED_MODULES = {"pocketsphinx": "the toy's speech recogniser", "numpy": "the toy's audio",
                  "flask": "the cloud's web app", "gunicorn": "the cloud's server"}


def missing_modules() -> list[tuple[str, str]]:
    return [(name, what) for name, what in NEEDED_MODULES.items()
            if importlib.util.find_spec(name) is None]


def _interrupt(_signum: int, _frame: object) -> None:
    # Turned into KeyboardInterrupt so every scenario's clean-up runs before the exit.
    raise KeyboardInterrupt


def _example_toy(args: argparse.Namespace) -> int:
    from scenarios.examples.minimal_toy import main

    clock = ["--clock-file", args.clock_file] if args.clock_file else []
    return main(["--state", args.state, "--cloud", args.cloud, *clock])


def _example_cloud_db(workdir: Path) -> str:
    return str(workdir / "example-cloud.db")


def _example_cloud(args: argparse.Namespace) -> int:
    """Replace this process with `teddy cloud serve`, so stopping it stops the server."""
    args.workdir.mkdir(parents=True, exist_ok=True)
    os.execv(sys.executable, [sys.executable, "-m", "teddy", "cloud", "serve", "--db",
                              _example_cloud_db(args.workdir), "--host", args.host,
                              "--port", str(args.port)])


def _example_cloud_mail(args: argparse.Namespace) -> int:
    os.execv(sys.executable, [sys.executable, "-m", "teddy", "cloud", "mailbox", "--db",
                              _example_cloud_db(args.workdir), "--to", args.to])


def _list(args: argparse.Namespace) -> int:
    from scenarios.runner import catalogue_files, load_scenarios

    try:
        scenarios = load_scenarios(catalogue_files())
    except ScenarioError as exc:
        print(f"teddy scenarios list: {exc}", file=sys.stderr)
        return 2
    JsonSink(args).document([
        {"name": s.name, "title": s.title, "negative_control": s.negative_control,
         "rules": sorted({r for c in s.checks for r in c.rules})} for s in scenarios])
    if args.json:
        return 0
    for scenario in scenarios:
        rules = sorted({r for c in scenario.checks for r in c.rules})
        tag = " (negative control)" if scenario.negative_control else ""
        print(f"{scenario.name}{tag}: {scenario.title}\n    rules: {' '.join(rules)}")
    return 0


def _rules(args: argparse.Namespace) -> int:
    from scenarios.rules import render_markdown, rulebook

    if args.markdown and wants_json(args):
        print("teddy scenarios rules: choose one of --markdown and --json", file=sys.stderr)
        return 2
    if args.markdown:
        sys.stdout.write(render_markdown())
        return 0
    book = rulebook()
    JsonSink(args).document({"revision": book.revision, "rules": [
        {"id": rule.id, "group": rule.group, "title": rule.title, "text": rule.text,
         "sources": list(rule.sources), "amended": rule.amended}
        for rule in book.rules.values()]})
    if args.json:
        return 0
    for rule in book.rules.values():
        print(f"{rule.id} {rule.title}")
    return 0
