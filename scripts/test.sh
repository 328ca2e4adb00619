#!/usr/bin/env bash
# The whole test suite (what `npm test` and CI run): installs dependencies when missing,
# builds (the server and the UI), makes sure a Docker engine runs, a Chromium is there for the
# UI tests and a python3 for the worker's task launcher (installing them as root on Debian), then runs every test file against one
# embedded PostgreSQL cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ]; then npm install --no-audit --no-fund; fi
npm run build --silent
npm run check:ui --silent
bash scripts/ensure-docker.sh
bash scripts/ensure-chromium.sh
bash scripts/ensure-python.sh
exec node dist/e2e/support/runTests.js "$@"
