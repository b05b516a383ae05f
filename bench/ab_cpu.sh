#!/usr/bin/env bash
# CPU a request of two (or more) source trees, side by side, against the peer harness's nginx mock.
#
#   bash bench/ab_cpu.sh /path/to/treeA/src /path/to/treeB/src      # e.g. a `git worktree` of main
#
# Each round starts `llmgateway serve` once per tree (PYTHONPATH at the tree, this checkout's
# .venv, pinned to CPU 0), warms it for 2 s, then reads the process's CPU time around one wrk run
# (CPU 1) and prints CPU ms a request, then the process's resident and peak memory. Rounds
# alternate the trees, so the machine's drift shows as spread, not as a difference.
# Needs ../shared/bench/setup.sh run once (nginx with Lua, wrk). Knobs: ROUNDS (3), MODES
# ("json stream"), DUR (6 s), C (8 connections), URLPATH and BODYPFX (the engine API; for
# /v1: URLPATH=/v1/chat/completions BODYPFX=llmgateway-v1).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/loopback.sh"
ROUNDS=${ROUNDS:-3}; MODES=${MODES:-"json stream"}; DUR=${DUR:-6}; C=${C:-8}
URLPATH=${URLPATH:-/api/engine/chat/openai}; BODYPFX=${BODYPFX:-llmstudio}
start_mock_upstream
trap stop_mock_upstream EXIT

for round in $(seq "$ROUNDS"); do
  for src in "$@"; do
    work=$(mktemp -d)
    start_gateway "$src" "$work"
    for mode in $MODES; do
      body=$BENCH/bodies/$BODYPFX-$mode.json
      wrk_run 2 "$body" "$URLPATH" "$C" > /dev/null
      before=$(cpu_ticks)
      summary=$(wrk_run "$DUR" "$body" "$URLPATH" "$C")
      after=$(cpu_ticks)
      requests=$(summary_field requests "$summary")
      echo "round $round $src $mode: $requests requests ($(summary_field err_status "$summary") errors)," \
        "$((requests / DUR)) req/s, $(cpu_ms_a_request "$before" "$after" "$requests") CPU ms a request"
    done
    grep -E "VmRSS|VmHWM" "/proc/$GATEWAY_PID/status" | tr -s ' \t\n' ' '; echo
    kill "$GATEWAY_PID"; wait "$GATEWAY_PID" 2> /dev/null || true; rm -rf "$work"
  done
done
