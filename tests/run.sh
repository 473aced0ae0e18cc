#!/usr/bin/env bash
# Pingan's whole test suite against real services, from a clean clone:
#   installs the test dependencies (a .venv, the package with [test], the TimescaleDB engine
#   built from tests/timescale/),
#   makes sure PostgreSQL, Redis and Mosquitto are up (starting any that are down, creating
#   the database and role the tests use), then runs pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '== %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif have sudo; then sudo "$@"; else "$@"; fi; }

apt_install() {  # only where the service is missing altogether and apt is available
  if have apt-get; then
    log "installing $*"
    as_root apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    log "please install: $*"; exit 1
  fi
}

# -- Python ------------------------------------------------------------------------------------
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || { log "creating .venv"; "$PY" -m venv .venv; }
log "installing pingan[test]"
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

# -- the TimescaleDB engine, built from the vendored source when missing ------------------------
bash tests/timescale/build.sh

# -- Debian's Chromium, for the dashboard's browser test, and a font with Chinese in it ------------
if ! have chromium; then apt_install chromium; fi
if ! fc-list :lang=zh 2>/dev/null | grep -q .; then apt_install fonts-wqy-zenhei; fi
# … pdftoppm and pdffonts, to look at the PDF reports; Pango, which WeasyPrint draws them with
if ! have pdftoppm; then apt_install poppler-utils; fi
if ! ldconfig -p | grep -q libpango-1.0; then apt_install libpango-1.0-0 libpangoft2-1.0-0; fi

# -- PostgreSQL --------------------------------------------------------------------------------
PGHOST_=127.0.0.1 PGPORT_=5432
if ! have pg_isready; then apt_install postgresql; fi
if ! pg_isready -q -h "$PGHOST_" -p "$PGPORT_"; then
  log "starting PostgreSQL"
  ver=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)
  if have pg_ctlcluster && [ -n "$ver" ]; then
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start
  fi
  for _ in $(seq 50); do pg_isready -q -h "$PGHOST_" -p "$PGPORT_" && break; sleep 0.2; done
fi
pg_isready -q -h "$PGHOST_" -p "$PGPORT_" || { log "PostgreSQL is not reachable on $PGHOST_:$PGPORT_"; exit 1; }
# the role and database the tests use (they create and drop one database per test)
psql_admin() { psql -X -q -v ON_ERROR_STOP=1 -h "$PGHOST_" -p "$PGPORT_" -U postgres -d postgres "$@"; }
psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'pingan'" | grep -q 1 \
  || psql_admin -c "CREATE ROLE pingan LOGIN CREATEDB"
psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = 'pingan'" | grep -q 1 \
  || psql_admin -c "CREATE DATABASE pingan OWNER pingan"

# -- Redis -------------------------------------------------------------------------------------
have redis-server || apt_install redis-server
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  log "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

# -- Mosquitto (the tests also start their own, with deploy/mosquitto/mosquitto.conf) -----------
have mosquitto || apt_install mosquitto mosquitto-clients
if ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
  log "starting Mosquitto"
  mosquitto -d -c /etc/mosquitto/mosquitto.conf
fi

# -- the suite ---------------------------------------------------------------------------------
export TEST_PINGAN_DATABASE_URL=${TEST_PINGAN_DATABASE_URL:-postgresql://pingan@127.0.0.1:5432/pingan}
export TEST_PINGAN_REDIS_URL=${TEST_PINGAN_REDIS_URL:-redis://127.0.0.1:6379/9}
log "running the tests"
exec .venv/bin/python -m pytest "$@"
