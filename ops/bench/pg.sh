#!/usr/bin/env bash
# A private PostgreSQL for the benchmark baseline: Debian's server,
# installed if missing, run as the unprivileged `postgres` user when we are
# root (initdb refuses root), on its own port and data directory.
#   ops/bench/pg.sh start DATA_DIR PORT   → prints the socket directory
#   ops/bench/pg.sh stop DATA_DIR
set -euo pipefail
cmd="$1"; data="$(realpath -m "$2")"; port="${3:-54329}"

bindir=""
for dir in /usr/lib/postgresql/*/bin; do [ -x "$dir/initdb" ] && bindir="$dir"; done
if [ -z "$bindir" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian's postgresql (for the benchmark baseline)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2 \
      || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2; }
  else
    echo "PostgreSQL server not found and not root: install Debian's postgresql" >&2; exit 1
  fi
  for dir in /usr/lib/postgresql/*/bin; do [ -x "$dir/initdb" ] && bindir="$dir"; done
fi

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
  start)
    mkdir -p "$data"
    [ "$(id -u)" = 0 ] && chown postgres "$data"
    if [ ! -f "$data/PG_VERSION" ]; then
      as_pg "$bindir/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >/dev/null
    fi
    # Durability like the ledger's (fsync on), the rest sized for a 24 GiB,
    # 2-core machine.
    as_pg "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w \
      -o "-p $port -k $data -c listen_addresses='' -c shared_buffers=2GB -c work_mem=64MB -c maintenance_work_mem=1GB -c max_wal_size=8GB" \
      start >/dev/null
    echo "$data"
    ;;
  stop)
    as_pg "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null || true
    ;;
  *) echo "usage: $0 start|stop DATA_DIR [PORT]" >&2; exit 2 ;;
esac
