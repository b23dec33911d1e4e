#!/usr/bin/env bash
# The local stack: Postgres, ClickHouse, a Kafka-protocol broker and the five services on one
# machine, without Docker.
#
#   stack.sh up [--infra-only]   start what is not running (idempotent; cleans stale state)
#   stack.sh down                stop what this stack started
#   stack.sh status              show each component
#   stack.sh env                 print the variables services and tests use
#
# A component given in the environment is used instead of a local one:
#   DATABASE_URL  (Postgres server; each service gets its own database on it)
#   CLICKHOUSE_URL, KAFKA_BROKERS
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STACK_DIR=${STACK_DIR:-$ROOT/.stack}
PIDS=$STACK_DIR/pids
LOGS=$STACK_DIR/logs
ENV_FILE=$STACK_DIR/env
CH_HTTP_PORT=${CLICKHOUSE_HTTP_PORT:-8123}
CH_TCP_PORT=${CLICKHOUSE_TCP_PORT:-19000}
OWN_PG_PORT=${STACK_POSTGRES_PORT:-55432}
KAFKA_MOCK_BROKERS=${KAFKA_MOCK_BROKERS:-3}
# service:port
SERVICES=(tenant-registry:3001 ingestion:3002 aggregation:3003 billing:3004 audit:3005 webhooks:3006 dashboard:3007)

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

mkdir -p "$PIDS" "$LOGS"

alive() { # pidfile
  [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

clean_stale() {
  local f
  for f in "$PIDS"/*.pid; do
    [[ -e $f ]] || continue
    alive "$f" || { log "removing stale $(basename "$f")"; rm -f "$f"; }
  done
}

can_install() { [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; }

apt_install() { # packages...
  can_install || die "missing $*: install the Debian packages ($*) or run with docker compose (see README)"
  log "installing $* (apt-get)"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >"$LOGS/apt.log" 2>&1; then
    apt-get update -qq >>"$LOGS/apt.log" 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >>"$LOGS/apt.log" 2>&1 ||
      die "apt-get install $* failed (see $LOGS/apt.log)"
  fi
}

wait_for() { # description seconds command...
  local what=$1 secs=$2
  shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.3
  done
  log "$what is up"
}

url_host_port() { # url -> "host port"
  python3 - "$1" <<'PY'
import sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
print(u.hostname or "127.0.0.1", u.port or 5432)
PY
}

pg_ready() { pg_isready -q -h "$1" -p "$2"; }

# ---------------------------------------------------------------------------------- Postgres
postgres_up() {
  command -v pg_isready >/dev/null || apt_install postgresql-client
  if [[ -n ${DATABASE_URL:-} ]]; then
    read -r host port < <(url_host_port "$DATABASE_URL")
    wait_for "Postgres at $host:$port" 30 pg_ready "$host" "$port" || die "DATABASE_URL server $host:$port is not reachable"
    POSTGRES_URL=$(python3 -c 'import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(u.urlunsplit((p.scheme,p.netloc,"","","")))' "$DATABASE_URL")
    return
  fi
  if pg_ready 127.0.0.1 5432; then
    POSTGRES_URL=postgres://postgres@127.0.0.1:5432
    return
  fi
  # No server reachable: run a project-local cluster.
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  [[ -n $bin ]] || { apt_install postgresql; bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1); }
  local data=$STACK_DIR/postgres
  local as=()
  [[ $(id -u) == 0 ]] && as=(runuser -u postgres --)
  if [[ ! -f $data/PG_VERSION ]]; then
    mkdir -p "$data"
    [[ $(id -u) == 0 ]] && chown postgres "$data"
    "${as[@]}" "$bin/initdb" -D "$data" -U postgres --auth=trust >"$LOGS/postgres-init.log"
  fi
  if ! pg_ready 127.0.0.1 "$OWN_PG_PORT"; then
    "${as[@]}" "$bin/pg_ctl" -D "$data" -l "$LOGS/postgres.log" -o "-p $OWN_PG_PORT -k /tmp -c listen_addresses=127.0.0.1" -w start >/dev/null
    touch "$STACK_DIR/own-postgres"
  fi
  wait_for "Postgres (local cluster) at 127.0.0.1:$OWN_PG_PORT" 30 pg_ready 127.0.0.1 "$OWN_PG_PORT" || die "local Postgres did not start (see $LOGS/postgres.log)"
  POSTGRES_URL=postgres://postgres@127.0.0.1:$OWN_PG_PORT
}

postgres_down() {
  [[ -f $STACK_DIR/own-postgres ]] || return 0
  local bin as=()
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  [[ $(id -u) == 0 ]] && as=(runuser -u postgres --)
  "${as[@]}" "$bin/pg_ctl" -D "$STACK_DIR/postgres" -m fast -w stop >/dev/null 2>&1 || true
  rm -f "$STACK_DIR/own-postgres"
  log "Postgres (local cluster) stopped"
}

# -------------------------------------------------------------------------------- ClickHouse
ch_ping() { curl -fsS "$1/ping" >/dev/null 2>&1; }

clickhouse_up() {
  if [[ -n ${CLICKHOUSE_URL:-} ]]; then
    wait_for "ClickHouse at $CLICKHOUSE_URL" 30 ch_ping "$CLICKHOUSE_URL" || die "CLICKHOUSE_URL $CLICKHOUSE_URL is not reachable"
    return
  fi
  CLICKHOUSE_URL=http://127.0.0.1:$CH_HTTP_PORT
  if alive "$PIDS/clickhouse.pid" && ch_ping "$CLICKHOUSE_URL"; then return; fi
  if ch_ping "$CLICKHOUSE_URL"; then
    log "using the ClickHouse already serving $CLICKHOUSE_URL"
    return
  fi
  command -v clickhouse-server >/dev/null || apt_install clickhouse-server clickhouse-client
  local dir=$STACK_DIR/clickhouse
  mkdir -p "$dir"/{data,tmp,user_files,format_schemas,logs}
  sed -e "s|@DIR@|$dir|g" -e "s|@HTTP_PORT@|$CH_HTTP_PORT|g" -e "s|@TCP_PORT@|$CH_TCP_PORT|g" \
    "$ROOT/tools/stack/clickhouse-config.xml.in" >"$dir/config.xml"
  cp "$ROOT/tools/stack/clickhouse-users.xml" "$dir/users.xml"
  (cd "$dir" && exec nohup clickhouse-server --config-file="$dir/config.xml" >"$LOGS/clickhouse.log" 2>&1) &
  echo $! >"$PIDS/clickhouse.pid"
  wait_for "ClickHouse at $CLICKHOUSE_URL" 60 ch_ping "$CLICKHOUSE_URL" ||
    die "ClickHouse did not start (see $LOGS/clickhouse.log and $dir/logs)"
}

# ------------------------------------------------------------------------------------- Kafka
kafka_up() {
  local state=$STACK_DIR/kafka-mock.state
  # The running mock cluster, unless KAFKA_BROKERS names other brokers (a shell that sourced
  # .stack/env names the mock's own).
  if alive "$PIDS/kafka-mock.pid" && [[ -f $state ]]; then
    local mock
    mock=$(sed -n 's/^bootstrap=//p' "$state")
    if [[ -z ${KAFKA_BROKERS:-} || $KAFKA_BROKERS == "$mock" ]]; then
      KAFKA_BROKERS=$mock
      KAFKA_CONTROL=127.0.0.1:$(sed -n 's/^control=//p' "$state")
      return
    fi
  fi
  if [[ -n ${KAFKA_BROKERS:-} ]]; then
    KAFKA_CONTROL=
    return
  fi
  rm -f "$state"
  [[ -f /usr/include/librdkafka/rdkafka_mock.h ]] || apt_install librdkafka-dev
  command -v cc >/dev/null || apt_install gcc make libc6-dev
  make -s -C "$ROOT/tools/kafka-mock" mock-broker
  nohup "$ROOT/tools/kafka-mock/mock-broker" --brokers "$KAFKA_MOCK_BROKERS" --state-file "$state" \
    >"$LOGS/kafka-mock.log" 2>&1 &
  echo $! >"$PIDS/kafka-mock.pid"
  wait_for "Kafka mock cluster ($KAFKA_MOCK_BROKERS brokers)" 15 test -f "$state" || die "Kafka mock broker did not start (see $LOGS/kafka-mock.log)"
  KAFKA_BROKERS=$(sed -n 's/^bootstrap=//p' "$state")
  KAFKA_CONTROL=127.0.0.1:$(sed -n 's/^control=//p' "$state")
}

admin_key() {
  # The platform-admin management key the local stack bootstraps (kept across restarts).
  local f=$STACK_DIR/admin-key
  [[ -s $f ]] || node -e "const c=require('crypto');process.stdout.write('mk_'+c.randomBytes(9).toString('base64url')+'_'+c.randomBytes(32).toString('base64url'))" >"$f"
  chmod 600 "$f"
  cat "$f"
}

write_env() {
  ADMIN_KEY=$(admin_key)
  cat >"$ENV_FILE.tmp" <<EOF
KAFKA_BROKERS=$KAFKA_BROKERS
KAFKA_CONTROL=${KAFKA_CONTROL:-}
CLICKHOUSE_URL=$CLICKHOUSE_URL
POSTGRES_URL=$POSTGRES_URL
ADMIN_KEY=$ADMIN_KEY
EOF
  mv "$ENV_FILE.tmp" "$ENV_FILE"
}

# ---------------------------------------------------------------------------------- services
service_db() { echo "metering_${1//-/_}"; }

http_ok() { curl -fsS "$1" >/dev/null 2>&1; }

# The services' gRPC ports (50051-50053) lie inside Linux's default range of local ports for
# outgoing connections (32768-60999): a client connection that happens to get one of them as its
# local port makes the service's listen fail with EADDRINUSE. Reserve them where we may.
GRPC_PORTS=50051-50053
reserve_grpc_ports() {
  local file=/proc/sys/net/ipv4/ip_local_reserved_ports current
  current=$(cat "$file" 2>/dev/null) || return 0
  [[ ",$current," == *",$GRPC_PORTS,"* ]] && return 0
  if ! echo "${current:+$current,}$GRPC_PORTS" >"$file" 2>/dev/null; then
    log "could not reserve ports $GRPC_PORTS against outgoing connections (not root?): a service may rarely fail to listen"
  fi
}

services_up() {
  [[ -f $ROOT/dist/apps/ingestion/src/main.js ]] || die "services are not built: run npm run build"
  reserve_grpc_ports
  local entry name port
  for entry in "${SERVICES[@]}"; do
    name=${entry%%:*} port=${entry##*:}
    if alive "$PIDS/$name.pid"; then continue; fi
    http_ok "http://127.0.0.1:$port/health" && die "port $port is taken by a process this stack did not start"
    (
      set -a
      # shellcheck disable=SC1090
      source "$ENV_FILE"
      set +a
      export PORT=$port DATABASE_URL="$POSTGRES_URL/$(service_db "$name")" LOG_LEVEL=${LOG_LEVEL:-info}
      # Only the registry gets the bootstrap credential.
      if [[ $name == tenant-registry ]]; then export REGISTRY_BOOTSTRAP_ADMIN_KEY=$ADMIN_KEY; fi
      unset ADMIN_KEY
      # Ingestion's heap is capped: it keeps no state worth a large heap, and an uncapped V8 heap
      # grows to ~350 MB under load before collecting (docs/decisions.md).
      # The mock broker holds a fetch that finds nothing for its whole wait, even when data
      # arrives meanwhile: the sink waits briefly instead (a real broker answers at once).
      if [[ $name == aggregation ]]; then export SINK_FETCH_WAIT_MS=${SINK_FETCH_WAIT_MS:-20}; fi
      flags=(--enable-source-maps)
      if [[ $name == ingestion ]]; then flags+=(--max-old-space-size=192); fi
      exec nohup node "${flags[@]}" "$ROOT/dist/apps/$name/src/main.js" >>"$LOGS/$name.log" 2>&1
    ) &
    echo $! >"$PIDS/$name.pid"
  done
  for entry in "${SERVICES[@]}"; do
    name=${entry%%:*} port=${entry##*:}
    wait_for "$name on :$port" 90 http_ok "http://127.0.0.1:$port/ready" ||
      die "$name did not become ready (see $LOGS/$name.log)"
  done
}

stop_pid() { # name [timeout]
  local f=$PIDS/$1.pid timeout=${2:-30}
  alive "$f" || { rm -f "$f"; return 0; }
  local pid
  pid=$(cat "$f")
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + timeout))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    log "$1 did not stop in ${timeout}s: killing"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
  log "$1 stopped"
}

# ------------------------------------------------------------------------------------ verbs
cmd_up() {
  local infra_only=false
  [[ ${1:-} == --infra-only ]] && infra_only=true
  clean_stale
  command -v curl >/dev/null || apt_install curl
  postgres_up
  clickhouse_up
  kafka_up
  write_env
  $infra_only || services_up
  log "stack is up (variables: $ENV_FILE)"
}

cmd_down() {
  local entry
  for entry in "${SERVICES[@]}"; do stop_pid "${entry%%:*}" 30; done
  stop_pid kafka-mock 10
  rm -f "$STACK_DIR/kafka-mock.state"
  stop_pid clickhouse 30
  postgres_down
  rm -f "$ENV_FILE"
}

cmd_status() {
  local entry name port state
  [[ -f $ENV_FILE ]] && sed 's/^/  /' "$ENV_FILE"
  for f in kafka-mock clickhouse; do
    if alive "$PIDS/$f.pid"; then state="running (pid $(cat "$PIDS/$f.pid"))"; else state=stopped; fi
    printf '  %-16s %s\n' "$f" "$state"
  done
  for entry in "${SERVICES[@]}"; do
    name=${entry%%:*} port=${entry##*:}
    if alive "$PIDS/$name.pid"; then
      if http_ok "http://127.0.0.1:$port/ready"; then state="ready on :$port"; else state="running, not ready on :$port"; fi
    else
      state=stopped
    fi
    printf '  %-16s %s\n' "$name" "$state"
  done
}

case ${1:-} in
  up) shift; cmd_up "$@" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) [[ -f $ENV_FILE ]] && cat "$ENV_FILE" || die "stack is not up" ;;
  *) echo "usage: $0 up [--infra-only] | down | status | env" >&2; exit 2 ;;
esac
