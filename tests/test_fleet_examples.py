"""The fleet deployment examples in docs/examples are well formed and run real commands.

The compose file is parsed, the systemd unit is checked by `systemd-analyze verify` (or parsed
where that is missing), nginx's site file by `nginx -t` where nginx is installed and otherwise
by a small syntax check. Every `teddy` command and flag they run is held against the CLI's own
`--help`, every TEDDY_* variable against the cloud's configuration, and nginx's upstreams
against the compose services. Each check is also run on a broken copy, which it must reject.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloud.config import CloudConfig
from cloud.keys.location import KeyStoreConfigError, key_store_location
from cloud.storage.url import backend_of

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "docs" / "examples"
UNIT = EXAMPLES / "teddy-cloud@.service"
NGINX = EXAMPLES / "nginx-teddy-cloud.conf"
COMPOSE = EXAMPLES / "docker-compose.yml"
DOCKERFILE = EXAMPLES / "cloud.Dockerfile"
TEDDY_VARIABLE = re.compile(r"\bTEDDY_[A-Z0-9_]+\b")


# -- the commands ---------------------------------------------------------------------------

def _serve_flags() -> set[str]:
    result = subprocess.run([sys.executable, "-m", "teddy", "cloud", "serve", "--help"],
                            capture_output=True, text=True, timeout=120, check=True, cwd=REPO)
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", result.stdout))


@pytest.fixture(scope="module")
def serve_flags() -> set[str]:
    return _serve_flags()


def unknown_flags(argv: list[str], known: set[str]) -> set[str]:
    """Flags in a `teddy cloud serve ...` command line that the CLI does not have."""
    assert argv[:3] == ["teddy", "cloud", "serve"], argv
    return {arg.split("=", 1)[0] for arg in argv if arg.startswith("--")} - known


def unknown_variables(text: str) -> set[str]:
    """TEDDY_* names that are not settings of the cloud (TEDDY_DB_PASSWORD is compose's own
    variable for the database password, not the cloud's)."""
    fields = {f"TEDDY_{name.upper()}" for name in CloudConfig.model_fields}
    return set(TEDDY_VARIABLE.findall(text)) - fields - {"TEDDY_DB_PASSWORD"}


def _exec_start(unit_text: str) -> list[str]:
    line = next(ln for ln in unit_text.splitlines() if ln.startswith("ExecStart="))
    argv = line.removeprefix("ExecStart=").split()
    return [Path(argv[0]).name, *argv[1:]]


def test_the_unit_and_compose_run_real_serve_flags(serve_flags: set[str]) -> None:
    unit_argv = _exec_start(UNIT.read_text())
    assert unknown_flags(unit_argv, serve_flags) == set()
    for service in _app_services(_compose()).values():
        assert unknown_flags(service["command"], serve_flags) == set()
    assert unknown_flags([*unit_argv, "--db-pool", "4"], serve_flags) == {"--db-pool"}, \
        "negative control: a flag the CLI lacks is caught"


def test_every_teddy_variable_they_name_is_a_cloud_setting() -> None:
    for path in (UNIT, COMPOSE, NGINX):
        assert unknown_variables(path.read_text()) == set(), path.name
    assert "TEDDY_PROXY_HOPS" in COMPOSE.read_text()
    assert unknown_variables("TEDDY_PROXY_HOP=1") == {"TEDDY_PROXY_HOP"}, "negative control"


# -- compose ----------------------------------------------------------------------------------

def _compose(text: str | None = None) -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text() if text is None else text)
    assert isinstance(loaded, dict)
    return loaded


def _app_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: service for name, service in compose["services"].items()
            if name.startswith("teddy-app-")}


def compose_problems(compose: dict[str, Any]) -> list[str]:
    problems = []
    services = compose.get("services", {})
    apps = _app_services(compose)
    if "postgres" not in services or "nginx" not in services:
        problems.append("needs a postgres and an nginx service")
    if len(apps) < 2:
        problems.append("needs at least two app servers")
    for name, app in apps.items():
        command = app.get("command", [])
        if command[:3] != ["teddy", "cloud", "serve"]:
            problems.append(f"{name} does not run teddy cloud serve")
            continue
        db = command[command.index("--db") + 1] if "--db" in command else ""
        if not db or backend_of(db) != "postgresql":
            problems.append(f"{name} is not on PostgreSQL")
        if "postgres" not in app.get("depends_on", {}):
            problems.append(f"{name} does not wait for postgres")
        if app.get("ports"):
            problems.append(f"{name} publishes a port: only nginx may")
        problems += _key_store_problems(name, app, db)
    if len({str(app.get("environment", {}).get("TEDDY_KEY_STORE")) for app in apps.values()}) > 1:
        problems.append("the app servers name different key stores")
    build = next(iter(apps.values()), {}).get("build", {})
    if not (COMPOSE.parent / build.get("context", "?") / build.get("dockerfile", "?")).is_file():
        problems.append("the app image's Dockerfile is not where the build names it")
    return problems


def _key_store_problems(name: str, app: dict[str, Any], db: str) -> list[str]:
    """The key store must be a file the server accepts, on a volume of its own."""
    store = app.get("environment", {}).get("TEDDY_KEY_STORE")
    if not store:
        return [f"{name} names no TEDDY_KEY_STORE (the default is inside the container)"]
    try:
        key_store_location(db, store)
    except KeyStoreConfigError as error:
        return [f"{name}: {error}"]
    mounts = [str(volume).split(":") for volume in app.get("volumes", [])]
    if not any(len(m) >= 2 and store.startswith(m[1].rstrip("/") + "/") for m in mounts):
        return [f"{name}: the key store {store} is not on a mounted volume (lost on rebuild)"]
    return []


def test_the_compose_file_is_postgres_two_app_servers_and_nginx() -> None:
    assert compose_problems(_compose()) == []


def test_negative_control_broken_compose_files_are_caught() -> None:
    text = COMPOSE.read_text()
    one_app = _compose()
    del one_app["services"]["teddy-app-2"]
    assert "needs at least two app servers" in compose_problems(one_app)
    on_sqlite = _compose(text.replace("postgresql://teddy@postgres:5432/teddy", "/data/t.db"))
    assert any("not on PostgreSQL" in p for p in compose_problems(on_sqlite))
    keys_in_postgres = _compose(text.replace(
        "/var/lib/teddy-keys/teddy.child-keys", "postgresql://teddy@postgres:5432/teddy_keys"))
    assert any("must be a file" in p for p in compose_problems(keys_in_postgres))
    keys_unmounted = _compose()
    for app in _app_services(keys_unmounted).values():
        app.pop("volumes")
    assert any("not on a mounted volume" in p for p in compose_problems(keys_unmounted))
    exposed = _compose()
    exposed["services"]["teddy-app-1"]["ports"] = ["8080:8080"]
    assert any("publishes a port" in p for p in compose_problems(exposed))
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load(text.replace("  teddy-app-2:\n", "  teddy-app-2\n  - oops: [\n"))


def test_the_dockerfile_copies_only_what_exists() -> None:
    copied = [line.split()[1] for line in DOCKERFILE.read_text().splitlines()
              if line.startswith("COPY ")]
    assert copied and all((REPO / source).exists() for source in copied), copied


# -- systemd ----------------------------------------------------------------------------------

def unit_problems(unit_text: str, directory: Path) -> list[str]:
    """What `systemd-analyze verify` says about an instance of the template, with ExecStart
    pointed at this checkout's `teddy` (the example's /opt path does not exist here)."""
    teddy = shutil.which("teddy", path=str(Path(sys.executable).parent))
    assert teddy
    template = directory / UNIT.name
    template.write_text(unit_text.replace("/opt/teddy/venv/bin/teddy", teddy))
    instance = directory / "teddy-cloud@8080.service"
    result = subprocess.run(["systemd-analyze", "verify", str(instance)], capture_output=True,
                            text=True, timeout=120, check=False, cwd=directory)
    ours = [line for line in result.stderr.splitlines() if "teddy-cloud@" in line]
    return ours + ([f"exit status {result.returncode}"] if result.returncode else [])


def _parsed_unit(unit_text: str) -> dict[str, dict[str, str]]:
    import configparser

    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(unit_text)
    return {section: dict(parser[section]) for section in parser.sections()}


def test_the_systemd_template_unit_is_valid(tmp_path: Path) -> None:
    unit = _parsed_unit(UNIT.read_text())
    assert {"Unit", "Service", "Install"} <= set(unit)
    assert "%i" in unit["Service"]["ExecStart"] and unit["Service"]["User"] == "teddy"
    if shutil.which("systemd-analyze"):
        assert unit_problems(UNIT.read_text(), tmp_path) == []


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_negative_control_systemd_analyze_rejects_a_broken_unit(tmp_path: Path) -> None:
    broken = UNIT.read_text().replace("Type=simple", "Type=simpel")
    assert unit_problems(broken, tmp_path)
    assert unit_problems(UNIT.read_text().replace("[Service]", "[Servic]"), tmp_path)


# -- nginx ------------------------------------------------------------------------------------

def nginx_problems(text: str) -> list[str]:
    """A syntax check for where nginx is not installed: every statement ends in ';' or opens
    a block, braces balance, and the directives the cloud relies on are there."""
    problems = []
    depth = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r"#.*", "", raw).strip()
        if not line:
            continue
        depth += line.count("{") - line.count("}")
        if depth < 0:
            problems.append(f"line {number}: '}}' without a block")
            depth = 0
        if not line.endswith((";", "{", "}")):
            problems.append(f"line {number}: statement without ';'")
    if depth:
        problems.append("unbalanced braces")
    for needed in ("proxy_request_buffering on;", "client_header_timeout", "client_body_timeout",
                   "client_max_body_size", "proxy_pass http://teddy_cloud;",
                   "proxy_set_header X-Forwarded-For", "ssl_certificate "):
        if needed not in text:
            problems.append(f"missing {needed}")
    return problems


def test_the_nginx_site_is_well_formed_and_buffers_requests(tmp_path: Path) -> None:
    text = NGINX.read_text()
    assert nginx_problems(text) == []
    if shutil.which("nginx"):
        conf = tmp_path / "nginx.conf"
        site = text.replace("/etc/nginx/tls/", f"{tmp_path}/")
        conf.write_text(f"events {{}}\nhttp {{\n{site}\n}}\n")
        result = subprocess.run(["nginx", "-t", "-c", str(conf)], capture_output=True,
                                text=True, timeout=60, check=False)
        assert result.returncode == 0 or "host not found" in result.stderr, result.stderr


def test_negative_control_broken_nginx_sites_are_caught() -> None:
    text = NGINX.read_text()
    assert nginx_problems(text.replace("proxy_request_buffering on;", "")) == [
        "missing proxy_request_buffering on;"]
    assert any("without ';'" in p for p in nginx_problems(
        text.replace("client_body_timeout   10s;", "client_body_timeout   10s")))
    assert "unbalanced braces" in nginx_problems(text.replace("upstream teddy_cloud {",
                                                              "upstream teddy_cloud {{"))


def test_nginx_sends_requests_to_every_compose_app_server() -> None:
    upstreams = set(re.findall(r"^\s*server\s+([\w.-]+):(\d+)", NGINX.read_text(), re.M))
    compose_apps = {(name, service["command"][service["command"].index("--port") + 1])
                    for name, service in _app_services(_compose()).items()}
    assert upstreams == compose_apps
