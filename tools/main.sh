#!/usr/bin/env bash
# The platform's main job: install, start the whole local stack, run the demo scenario.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash tools/setup.sh
bash tools/stack/stack.sh up
node tools/demo/demo.mjs
cat <<MSG

The stack keeps running:
  status:  bash tools/stack/stack.sh status
  stop:    bash tools/stack/stack.sh down
  APIs:    http://127.0.0.1:3001/docs … http://127.0.0.1:3005/docs
MSG
