#!/usr/bin/env bash
# The center's front door.
#   ./run.sh          set everything up and run the live center on the embedded default
#   ./run.sh test     set everything up and run the whole test suite
#   ./run.sh setup    only install (virtualenv, packages, Chromium for browser tests, model)
#   ./run.sh defaults print what `run` would decide (demo users, demo traffic, debug pages)
# Environment: PYTHON (default python3.11), PORT (8000), HOST (127.0.0.1), DEMO_TRAFFIC,
# DATABASE_URL / REDIS_URL to use PostgreSQL / Redis instead of the embedded default,
# SEED_DEMO=1 to create the demo users (known passwords) on such a database too.
# Django's debug pages are only ever served on a loopback HOST.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3.11}
VENV=${VENV:-.venv}
PY="$VENV/bin/python"
STAMP="$VENV/.installed-$(sha1sum pyproject.toml | cut -c1-12)"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

setup_python() {
  if [ ! -x "$PY" ]; then
    say "Creating the virtualenv in $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  if [ ! -f "$STAMP" ]; then
    say "Installing packages (CPU build of torch 2.13.0 first, so nothing pulls a CUDA build)"
    "$PY" -m pip install --quiet --upgrade pip
    "$PY" -m pip install --quiet "torch==2.13.0"
    "$PY" -m pip install --quiet -e ".[test]"
    touch "$STAMP"
  fi
}

setup_browser() {
  if [ ! -x /usr/bin/chromium ]; then
    say "Installing Debian's Chromium for the browser tests"
    if [ "$(id -u)" -eq 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
      sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    fi
  fi
}

setup_model() {
  say "Building the bundled sentiment model (cached after the first run)"
  "$PY" manage.py sentiment_build
}

is_loopback() {
  case "$1" in 127.*|localhost|::1|"[::1]") return 0 ;; *) return 1 ;; esac
}

# Demo users (with known passwords) only on the embedded default database, or when asked;
# demo traffic follows them. Debug pages never on an address others can reach.
decide_defaults() {
  HOST=${HOST:-127.0.0.1}
  if [ -z "${DATABASE_URL:-}" ] || [ "${SEED_DEMO:-0}" = "1" ]; then SEED_DEMO=1; else SEED_DEMO=0; fi
  DEMO_TRAFFIC=${DEMO_TRAFFIC:-$SEED_DEMO}
  if ! is_loopback "$HOST"; then
    DJANGO_DEBUG=0
  fi
  export HOST SEED_DEMO DEMO_TRAFFIC
  if [ -n "${DJANGO_DEBUG:-}" ]; then export DJANGO_DEBUG; fi
}

print_defaults() {
  decide_defaults
  echo "host=$HOST seed_demo=$SEED_DEMO demo_traffic=$DEMO_TRAFFIC debug=${DJANGO_DEBUG:-default}"
}

run_center() {
  setup_python
  setup_model
  decide_defaults
  export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-sentiment_admin.settings.local}
  say "Preparing the database"
  "$PY" manage.py migrate --noinput -v0
  if [ "$SEED_DEMO" = "1" ]; then
    say "Creating the demo organisation (demo users with known passwords)"
    "$PY" manage.py seed_demo
  else
    say "Not creating demo users on DATABASE_URL (SEED_DEMO=1 creates them)"
  fi
  if ! is_loopback "$HOST"; then
    say "Bound to $HOST: Django's debug pages are off (DJANGO_DEBUG=0); list this host in DJANGO_ALLOWED_HOSTS"
  fi
  local host=$HOST port=${PORT:-8000}
  say "Sentiment center on http://$host:$port/  (Ctrl-C stops it)"
  if [ "$SEED_DEMO" = "1" ]; then say "Sign in as admin / demo1234"; fi
  if [ -n "${REDIS_URL:-}" ] && [ "${SENTIMENT_SCORING_MODE:-worker}" = "worker" ]; then
    # With Redis the scoring runs in separate workers (bin/center-production runs several).
    say "Scoring worker: manage.py runworker sentiment-scoring"
    "$PY" manage.py runworker sentiment-scoring &
  fi
  if [ "$DEMO_TRAFFIC" != "0" ]; then
    say "Demo traffic: multilingual conversations in every queue (DEMO_TRAFFIC=0 turns it off)"
    "$PY" manage.py demo_traffic --url "http://$host:$port" &
  fi
  exec "$VENV/bin/daphne" -b "$host" -p "$port" sentiment_admin.asgi:application
}

run_tests() {
  setup_python
  setup_browser
  setup_model
  say "Running the test suite (database: ${DATABASE_URL:-SQLite}; channel layer: ${REDIS_URL:-in-memory})"
  "$PY" -m pytest "$@"
}

case "${1:-run}" in
  run) shift || true; run_center ;;
  test) shift; run_tests "$@" ;;
  setup) setup_python; setup_browser; setup_model ;;
  defaults) print_defaults ;;
  *) echo "usage: ./run.sh [run|test|setup|defaults] [pytest args...]" >&2; exit 2 ;;
esac
