#!/usr/bin/env bash
# Builds and installs the TimescaleDB engine (the vendored 2.28.3 source, the last release line
# for PostgreSQL 15) into this machine's PostgreSQL, unless it is there already. About 90 s on
# two cores. The tests then run it on a cluster of their own with the library preloaded.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=2.28.3
log() { printf '== %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif have sudo; then sudo "$@"; else "$@"; fi; }

pgver=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
[ -n "$pgver" ] || { log "no PostgreSQL server under /usr/lib/postgresql"; exit 1; }
pg_config=/usr/lib/postgresql/$pgver/bin/pg_config
if [ -x "$pg_config" ] && [ -f "$("$pg_config" --sharedir)/extension/timescaledb--$version.sql" ] \
   && [ -f "$("$pg_config" --pkglibdir)/timescaledb-$version.so" ]; then
  [ -n "${TIMESCALEDB_REBUILD:-}" ] || exit 0  # installed
fi
need=()
[ -f "/usr/include/postgresql/$pgver/server/postgres.h" ] || need+=("postgresql-server-dev-$pgver")
have cmake || need+=(cmake)
have make || need+=(make)
have gcc || need+=(gcc)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]} to build TimescaleDB"
  as_root apt-get update -qq >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
(cd "$here" && sha256sum -c --quiet "timescaledb-$version.tar.gz.sha256")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log "building TimescaleDB $version for PostgreSQL $pgver (about 90 s)"
tar xzf "$here/timescaledb-$version.tar.gz" -C "$work"
cd "$work/timescaledb-$version"
export PATH="/usr/lib/postgresql/$pgver/bin:$PATH"
./bootstrap -DCMAKE_BUILD_TYPE=Release -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF \
  -DUSE_OPENSSL=OFF -DSEND_TELEMETRY_DEFAULT=NO -DGENERATE_DOWNGRADE_SCRIPT=OFF -DPG_CONFIG="$pg_config" \
  >"$work/bootstrap.log" 2>&1 || { tail -30 "$work/bootstrap.log"; exit 1; }
make -C build -j"$(nproc)" >"$work/make.log" 2>&1 || { tail -30 "$work/make.log"; exit 1; }
as_root make -C build install >"$work/install.log" 2>&1 || { tail -30 "$work/install.log"; exit 1; }
log "TimescaleDB $version installed"
