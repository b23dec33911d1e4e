#!/usr/bin/env bash
# Every check and test tier: formatting, types, lint (module boundaries included), unit,
# integration (real Postgres, ClickHouse, Kafka protocol), end-to-end (all services) and a short
# soak (steady load with faults; `npm run test:soak` runs the full 10 minutes).
# Starts the local stack when it is not running and stops what it started.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false CI=${CI:-true}

bash tools/setup.sh

if [[ -f .stack/env ]] && bash tools/stack/stack.sh status | grep -q 'kafka-mock *running'; then
  started_here=false
else
  started_here=true
  trap 'bash tools/stack/stack.sh down || true' EXIT
fi

step() { printf '\n=== %s\n' "$*"; }
step "format";      npx prettier --check . --log-level warn
step "types";       npx tsc -p tsconfig.json --noEmit
step "lint";        npx nx run-many -t lint --output-style=static
step "unit";        npx nx run-many -t test --output-style=static
step "integration"; npx nx run-many -t int-test --parallel=1 --output-style=static
step "end-to-end";  npx nx run-many -t e2e --parallel=1 --output-style=static
step "soak (short)"; SOAK_MINUTES=1.5 SOAK_FAULT_EVERY_S=20 npx nx run platform-e2e:soak --output-style=static
step "all tests passed"
$started_here && echo "(stopping the stack this run started)"
