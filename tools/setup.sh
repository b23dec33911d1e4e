#!/usr/bin/env bash
# Installs what the platform needs on this machine, idempotently: Debian packages for the local
# stack (when root on Debian), npm dependencies from the lockfile, the compiled services and the
# mock Kafka broker.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
log() { printf '[setup] %s\n' "$*" >&2; }

need=()
command -v curl >/dev/null || need+=(curl)
command -v pg_isready >/dev/null && command -v pg_dump >/dev/null || need+=(postgresql-client)
command -v cc >/dev/null || need+=(gcc libc6-dev)
command -v make >/dev/null || need+=(make)
[[ -f /usr/include/librdkafka/rdkafka_mock.h ]] || need+=(librdkafka-dev)
# Headless browser for the dashboard's end-to-end test (driven by playwright-core).
command -v chromium >/dev/null || need+=(chromium)
if [[ -z ${CLICKHOUSE_URL:-} ]] && ! command -v clickhouse-server >/dev/null; then
  need+=(clickhouse-server clickhouse-client)
fi
if ((${#need[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    log "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    log "missing system packages: ${need[*]} (install them, or use docker compose: see README)"
    exit 1
  fi
fi

if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  # `npm install` on the committed lockfile installs the locked versions. Not `npm ci`: the
  # registry mirror serves only this platform's optional binaries (@swc/core-*), so the lockfile
  # cannot list the others and `npm ci` refuses it as out of sync (docs/decisions.md).
  log "installing npm dependencies (locked versions)"
  npm install --no-audit --no-fund --loglevel=error
fi
# Fixes in dependencies, kept as patches/ (docs/decisions.md); idempotent.
npx --no-install patch-package >/dev/null

make -s -C tools/kafka-mock mock-broker
node tools/build/build.mjs
