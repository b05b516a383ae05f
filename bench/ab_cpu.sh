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
BENCH=$(cd "$ROOT/../shared/bench" && pwd)
ROUNDS=${ROUNDS:-3}; MODES=${MODES:-"json stream"}; DUR=${DUR:-6}; C=${C:-8}
URLPATH=${URLPATH:-/api/engine/chat/openai}; BODYPFX=${BODYPFX:-llmstudio}
MOCK=$(mktemp -d)
mkdir -p "$MOCK"/nginx-{body,proxy,fastcgi,uwsgi,scgi}
python3 "$BENCH/mock/make_canned.py" "$MOCK/canned"
sed -e "s#@RUN@#$MOCK#g; s#@MOCK@#$BENCH/mock#g; s#@PORT@#18000#g; s#@TTFT_MS@#200#g; s#@ITL_MS@#20#g; s#@WORKERS@#1#g" \
  "$BENCH/mock/nginx.conf.tmpl" > "$MOCK/nginx.conf"
setsid taskset -c 1 nginx -c "$MOCK/nginx.conf" -p "$MOCK" > "$MOCK/nginx.log" 2>&1 &
trap 'kill "$(cat "$MOCK/nginx.pid" 2>/dev/null)" 2>/dev/null; rm -rf "$MOCK"' EXIT
for _ in $(seq 50); do curl -sf http://127.0.0.1:18000/health > /dev/null && break; sleep 0.1; done

wrk_run() {  # seconds, body file: prints wrk's summary line
  WRK_BODY=$2 taskset -c 1 wrk -t1 -c"$C" -d"$1" -s "$BENCH/load/post.lua" "http://127.0.0.1:18100$URLPATH" | grep WRKJSON || true
}

for round in $(seq "$ROUNDS"); do
  for src in "$@"; do
    work=$(mktemp -d)
    (cd "$work" && PYTHONPATH=$src OPENAI_BASE_URL=http://127.0.0.1:18000/v1 OPENAI_API_KEY=sk-bench-not-a-real-key \
      exec setsid taskset -c 0 "$ROOT/.venv/bin/llmgateway" serve --host 127.0.0.1 --port 18100 > gateway.log 2>&1) &
    pid=$!
    for _ in $(seq 100); do curl -sf http://127.0.0.1:18100/health > /dev/null && break; sleep 0.1; done
    for mode in $MODES; do
      body=$BENCH/bodies/$BODYPFX-$mode.json
      wrk_run 2 "$body" > /dev/null
      before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
      summary=$(wrk_run "$DUR" "$body")
      after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
      requests=$(sed 's/.*"requests":\([0-9]*\).*/\1/' <<< "$summary")
      errors=$(sed 's/.*"err_status":\([0-9]*\).*/\1/' <<< "$summary")
      ticks=$(getconf CLK_TCK)
      echo "round $round $src $mode: $requests requests ($errors errors), $((requests / DUR)) req/s," \
        "$(python3 -c "print(round(($after - $before) * 1000 / $ticks / $requests, 3))") CPU ms a request"
    done
    grep -E "VmRSS|VmHWM" "/proc/$pid/status" | tr -s ' \t\n' ' '; echo
    kill "$pid"; wait "$pid" 2> /dev/null || true; rm -rf "$work"
  done
done
