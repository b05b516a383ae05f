# Sourced by bench/ab_cpu.sh and bench/surfaces.sh: the peer harness's nginx mock upstream on
# 127.0.0.1:18000 (CPU 1), a gateway on 18100 (CPU 0) and wrk against it (CPU 1). Needs
# ../shared/bench/setup.sh run once (nginx with Lua, wrk). Sets BENCH (the harness), MOCK (the
# mock's folder, removed by `stop_mock_upstream`) and, for each gateway started, GATEWAY_PID.

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../shared/bench" && pwd)

start_mock_upstream() {
  MOCK=$(mktemp -d)
  mkdir -p "$MOCK"/nginx-{body,proxy,fastcgi,uwsgi,scgi}
  python3 "$BENCH/mock/make_canned.py" "$MOCK/canned"
  sed -e "s#@RUN@#$MOCK#g; s#@MOCK@#$BENCH/mock#g; s#@PORT@#18000#g; s#@TTFT_MS@#200#g; s#@ITL_MS@#20#g; s#@WORKERS@#1#g" \
    "$BENCH/mock/nginx.conf.tmpl" > "$MOCK/nginx.conf"
  setsid taskset -c 1 nginx -c "$MOCK/nginx.conf" -p "$MOCK" > "$MOCK/nginx.log" 2>&1 &
  for _ in $(seq 50); do curl -sf http://127.0.0.1:18000/health > /dev/null && break; sleep 0.1; done
}

stop_mock_upstream() {
  kill "$(cat "$MOCK/nginx.pid" 2>/dev/null)" 2>/dev/null
  rm -rf "$MOCK"
}

start_gateway() {  # source tree (its src/), working folder: `llmgateway serve` of this checkout's .venv
  (cd "$2" && PYTHONPATH=$1 OPENAI_BASE_URL=http://127.0.0.1:18000/v1 OPENAI_API_KEY=sk-bench-not-a-real-key \
    exec setsid taskset -c 0 "$ROOT/.venv/bin/llmgateway" serve --host 127.0.0.1 --port 18100 > gateway.log 2>&1) &
  GATEWAY_PID=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:18100/health > /dev/null && break; sleep 0.1; done
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$GATEWAY_PID/stat"; }  # the gateway's user + system CPU

summary_field() { sed "s/.*\"$1\":\([0-9]*\).*/\1/" <<< "$2"; }  # name, wrk's summary line

cpu_ms_a_request() {  # ticks before, ticks after, requests
  python3 -c "print(round(($2 - $1) * 1000 / $(getconf CLK_TCK) / $3, 3))"
}

wrk_run() {  # seconds, body file, path, connections: prints wrk's summary line
  WRK_BODY=$2 taskset -c 1 wrk -t1 -c"$4" -d"$1" -s "$BENCH/load/post.lua" "http://127.0.0.1:18100$3" | grep WRKJSON || true
}
