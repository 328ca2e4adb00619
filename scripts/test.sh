#!/usr/bin/env bash
# The whole test suite (what `npm test` and CI run): installs dependencies when missing,
# builds, makes sure a Docker engine runs (installing it as root on Debian), then runs
# every test file against one embedded PostgreSQL cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ]; then npm install --no-audit --no-fund; fi
npm run build --silent
bash scripts/ensure-docker.sh
exec node dist/e2e/support/runTests.js "$@"
