#!/usr/bin/env bash
# Set Teddy up on a fresh Debian, Ubuntu or Raspberry Pi OS machine, then run one job:
#   ./bootstrap.sh demo    the end-to-end demo (`teddy demo`)
#   ./bootstrap.sh test    lint and the fast test tier (under 5 minutes on 2 cores),
#                          one pytest worker per core
#   ./bootstrap.sh test --full    lint and every test, the slow ones too
# Arguments after `test` (and `--full`) go to pytest.
# It installs the Debian packages it needs when missing (with sudo when not root) and a
# virtual environment in .venv with the project and its test extras. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"

job="${1:-demo}"
shift || true
case "$job" in demo|test) ;; *) echo "usage: ./bootstrap.sh demo|test [args...]" >&2; exit 2 ;; esac

case "$(dpkg --print-architecture 2>/dev/null || uname -m)" in
  armhf|armel|armv6l|armv7l)
    echo "bootstrap: Teddy needs a 64-bit OS (on a Raspberry Pi: Raspberry Pi OS 64-bit);" \
         "several of its packages publish no 32-bit ARM wheels (see docs/raspberry-pi.md)" >&2
    exit 2 ;;
esac

# libatomic1: the Vosk wheel for 64-bit ARM (Raspberry Pi OS) links libatomic.so.1.
debian_packages=(python3 python3-venv espeak-ng sox libsox-fmt-all libportaudio2 alsa-utils
                 libatomic1)
if [ "$job" = test ]; then
  # postgresql: the tests run the cloud on a throwaway PostgreSQL server as well as SQLite.
  debian_packages+=(chromium strace wrk postgresql)
  # SphinxTrain and friends: a test runs the acoustic model adaptation (audio_fixtures/adapt.py).
  debian_packages+=(sphinxtrain sphinxbase-utils pocketsphinx)
  # npm fetches axe-core for the accessibility tests; a machine with Node.js from elsewhere
  # already has it.
  command -v npm >/dev/null 2>&1 || debian_packages+=(nodejs npm)
fi

missing=()
for pkg in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=.venv/.teddy-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  # The exact versions the suite passed with (docs/packaging.md says how to move them).
  .venv/bin/python -m pip install --quiet -c constraints.txt -e '.[test]'
  touch "$stamp"
fi

# Moonshine base English, the default English recogniser: fetched by pip from PyPI
# and checked against pinned SHA-256s (a no-op once installed; never in git).
.venv/bin/teddy models download en-moonshine --quiet

if [ "$job" = demo ]; then
  exec .venv/bin/teddy demo "$@"
fi
axe_version=4.14.1
if ! grep -qs "\"version\": \"$axe_version\"" .cache/npm/node_modules/axe-core/package.json; then
  npm install --silent --no-audit --no-fund --prefix .cache/npm "axe-core@$axe_version"
fi
.venv/bin/ruff check .

# The fast tier leaves out tests marked slow("why"); --full (anywhere after `test`) keeps them.
# A -m of the caller's own comes later on the command line, so pytest uses it instead.
tier=(-m "not slow")
pytest_args=()
for arg in "$@"; do
  if [ "$arg" = --full ]; then tier=(); else pytest_args+=("$arg"); fi
done
# One pytest-xdist worker per core this process may use; one core runs serially, without xdist.
# loadgroup keeps each xdist group (a module with module-scoped servers) in one worker
# (tests/parallel_safety.py). A -n of the caller's own comes later and wins (-n 0: serial).
cores="$(.venv/bin/python -c 'import os; print(len(os.sched_getaffinity(0)))')"
workers=(-n 0)
if [ "$cores" -gt 1 ]; then workers=(-n "$cores" --dist loadgroup); fi
status=0
.venv/bin/python -m pytest "${workers[@]}" "${tier[@]}" "${pytest_args[@]}" || status=$?
if [ "$status" -eq 5 ]; then
  # pytest's 5: nothing was collected. Say so plainly rather than fail with a bare status.
  echo "bootstrap: pytest ran no tests; check the arguments after 'test'" \
       "(${pytest_args[*]:-none}); the fast tier leaves out tests marked slow, --full keeps them" >&2
fi
exit "$status"
