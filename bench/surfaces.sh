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
BENCH=$(cd "$ROOT/../shared/bench" && pwd)
MOCK=$(mktemp -d); WORK=$(mktemp -d); pid=
mkdir -p "$MOCK"/nginx-{body,proxy,fastcgi,uwsgi,scgi}
python3 "$BENCH/mock/make_canned.py" "$MOCK/canned"
sed -e "s#@RUN@#$MOCK#g; s#@MOCK@#$BENCH/mock#g; s#@PORT@#18000#g; s#@TTFT_MS@#200#g; s#@ITL_MS@#20#g; s#@WORKERS@#1#g" \
  "$BENCH/mock/nginx.conf.tmpl" > "$MOCK/nginx.conf"
setsid taskset -c 1 nginx -c "$MOCK/nginx.conf" -p "$MOCK" > "$MOCK/nginx.log" 2>&1 &
trap 'kill "$(cat "$MOCK/nginx.pid" 2>/dev/null)" 2>/dev/null; [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$MOCK" "$WORK"' EXIT
for _ in $(seq 50); do curl -sf http://127.0.0.1:18000/health > /dev/null && break; sleep 0.1; done
(cd "$WORK" && OPENAI_BASE_URL=http://127.0.0.1:18000/v1 OPENAI_API_KEY=sk-bench-not-a-real-key \
  exec setsid taskset -c 0 "$ROOT/.venv/bin/llmgateway" serve --host 127.0.0.1 --port 18100 > gateway.log 2>&1) &
pid=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:18100/health > /dev/null && break; sleep 0.1; done

load() {  # path, body prefix, seconds: wrk's summary line
  WRK_BODY=$BENCH/bodies/$2-$MODE.json taskset -c 1 wrk -t1 -c32 -d"$3" -s "$BENCH/load/post.lua" \
    "http://127.0.0.1:18100$1" | grep WRKJSON || true
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }

load /api/engine/chat/openai llmstudio 2 > /dev/null
load /v1/chat/completions llmgateway-v1 2 > /dev/null
for round in $(seq "$ROUNDS"); do
  for surface in "/api/engine/chat/openai llmstudio" "/v1/chat/completions llmgateway-v1"; do
    read -r path body <<< "$surface"
    before=$(cpu_ticks)
    summary=$(load "$path" "$body" 6)
    after=$(cpu_ticks)
    requests=$(sed 's/.*"requests":\([0-9]*\).*/\1/' <<< "$summary")
    echo "round $round $path $MODE: $requests requests," \
      "$(python3 -c "print(round(($after - $before) * 1000 / $(getconf CLK_TCK) / $requests, 3))") CPU ms a request"
  done
done
