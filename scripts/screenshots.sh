#!/usr/bin/env bash
# Refreshes the screenshots of docs/ui.md (docs/img/*.png): the UI tests take them while they
# prove what the pictures show, so a picture never shows a screen no test has seen.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build --silent
bash scripts/ensure-docker.sh
bash scripts/ensure-chromium.sh
LABQ_SCREENSHOTS="$PWD/docs/img" exec node dist/e2e/support/runTests.js dist/e2e/ui/*.test.js
