#!/usr/bin/env bash
# Regenerates docs/screenshots/: the browser test drives the real binary in headless
# Chromium (setup, a monitor failing and recovering, an incident, a heartbeat, a status
# page) and saves what an operator sees — at 1280 px, and the dashboard and a status
# page at phone width (390 px).
#
# Needs chromium and chromedriver (Debian: chromium chromium-driver), as the test does.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$ROOT/docs/screenshots"
mkdir -p "$OUT"
cd "$ROOT"
VIGILMON_SCREENSHOTS="$OUT" cargo test -p vigilmon --test e2e -- \
    ui::browser_setup_monitor_incident_and_heartbeat --exact --nocapture
ls -1 "$OUT"
