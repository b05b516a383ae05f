#!/usr/bin/env bash
# The engine API against /v1 in one gateway process: the CPU a request of each, in alternating
# rounds, so the machine's drift between the peer harness's rows does not fall on one surface.
#
#   bash bench/surfaces.sh [json|stream] [ROUNDS]
#
# Starts the peer harness's nginx mock (CPU 1) and one `llmgateway serve` from this checkout's
# .venv (CPU 0), warms both surfaces for 2 s, then runs wrk (CPU 1, c=32, 6 s) on the engine
# API and on /v1 in turn, with the harness's request bodies, and prints the process's CPU ms a
# request for each round. Needs ../shared/bench/setup.sh run once (nginx with Lua, wrk).
set -euo pipefail
MODE=${1:-json}; ROUNDS=${2:-4}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/bench/loopback.sh"
WORK=$(mktemp -d); GATEWAY_PID=
start_mock_upstream
trap 'stop_mock_upstream; [ -n "$GATEWAY_PID" ] && kill "$GATEWAY_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
start_gateway "$ROOT/src" "$WORK"

load() { wrk_run "$3" "$BENCH/bodies/$2-$MODE.json" "$1" 32; }  # path, body prefix, seconds

load /api/engine/chat/openai llmstudio 2 > /dev/null
load /v1/chat/completions llmgateway-v1 2 > /dev/null
for round in $(seq "$ROUNDS"); do
  for surface in "/api/engine/chat/openai llmstudio" "/v1/chat/completions llmgateway-v1"; do
    read -r path body <<< "$surface"
    before=$(cpu_ticks)
    summary=$(load "$path" "$body" 6)
    after=$(cpu_ticks)
    requests=$(summary_field requests "$summary")
    echo "round $round $path $MODE: $requests requests, $(cpu_ms_a_request "$before" "$after" "$requests") CPU ms a request"
  done
done
