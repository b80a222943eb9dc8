#!/usr/bin/env bash
# The gateway benchmark (issue 14): the same MCP server (@modelcontextprotocol/server-everything,
# pinned in interop/gateway) called directly over its own Streamable HTTP mode, behind
# `fastmcp-auth serve -- node ... stdio` (one child per session), the same with
# --shared-upstream (one child for all sessions), behind `fastmcp-auth serve --upstream` (in front of the direct server), and behind supergateway 4.0.0 --stateful (pinned
# in bench/gateway). bench/loadgen opens SESSIONS sessions and calls the echo tool (with a
# progress token) in a loop; the table gives p50/p99 per call, the added p50/p99 over direct,
# the front process's CPU per call, and its memory per session (peak RSS minus the RSS before
# the sessions, divided by SESSIONS; the children excluded).
#
#   bench/gateway.sh                                  # 50 sessions, 10 s each after 10 s of warm-up
#   SESSIONS=50 DURATION=10s RATE=0 bench/gateway.sh  # RATE=0: as fast as possible
#
# Not a test: figures depend on the machine. The gateway runs with --no-auth here, as
# supergateway and the direct server have no auth; the token check of a cached token costs
# about a microsecond more per request (docs/performance.md). Needs Go, node, npm, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
SESSIONS=${SESSIONS:-50}
DURATION=${DURATION:-10s}
# The warm-up is long because loadgen opens the sessions one after another and each stdio
# session starts its own node child: after a 2 s warm-up the last children were a few seconds
# old, their first calls (V8 still compiling the server's code) made the p99 of both stdio
# fronts, and the "other CPU" column showed the children still busy (0.3-0.4 core against
# 0.06-0.08 after 10 s). A gateway in use runs warm children; all targets get the same warm-up.
WARMUP=${WARMUP:-10s}
RATE=${RATE:-0}

bin=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$bin"
}
trap cleanup EXIT

echo "building..." >&2
go build -o "$bin/fastmcp-auth" .
go build -o "$bin/loadgen" ./bench/loadgen
[ -d interop/gateway/node_modules/@modelcontextprotocol/server-everything ] || (cd interop/gateway && npm ci --no-audit --no-fund >&2)
[ -d bench/gateway/node_modules/supergateway ] || (cd bench/gateway && npm ci --no-audit --no-fund >&2)
EV=$PWD/interop/gateway/node_modules/@modelcontextprotocol/server-everything/dist/index.js
SG=$PWD/bench/gateway/node_modules/supergateway/dist/index.js

freeport() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
rss_kib() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
wait_port() {
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing listens on $1" >&2; return 1
}
# measure NAME URL PID: run loadgen, keep its JSON, add the RSS before the sessions.
measure() {
  local name=$1 url=$2 pid=$3
  local before; before=$(rss_kib "$pid")
  echo "measuring $name ($SESSIONS sessions, $DURATION)..." >&2
  "$bin/loadgen" --url "$url" --sessions "$SESSIONS" --duration "$DURATION" --warmup "$WARMUP" \
    --rate "$RATE" --pid "$pid" --tool echo --args '{"message":"hello, load"}' >"$bin/$name.json"
  echo "$before" >"$bin/$name.rss0"
}

# 1. direct: the server's own Streamable HTTP mode.
dport=$(freeport)
PORT=$dport node "$EV" streamableHttp >"$bin/direct.log" 2>&1 &
dpid=$!; pids+=("$dpid")
wait_port "$dport"
measure direct "http://127.0.0.1:$dport/mcp" "$dpid"

# 2. fastmcp-auth in front of the direct server (like-for-like: both HTTP).
gport=$(freeport)
"$bin/fastmcp-auth" serve --no-auth --addr "127.0.0.1:$gport" --max-sessions 1000 \
  --upstream "http://127.0.0.1:$dport/mcp" >"$bin/gw-http.log" 2>&1 &
gpid=$!; pids+=("$gpid")
wait_port "$gport"
measure gateway-http "http://127.0.0.1:$gport/mcp" "$gpid"
kill "$gpid"

# 3. fastmcp-auth with a stdio child per session.
sport=$(freeport)
"$bin/fastmcp-auth" serve --no-auth --addr "127.0.0.1:$sport" --max-sessions 1000 \
  -- node "$EV" stdio >"$bin/gw-stdio.log" 2>&1 &
spid=$!; pids+=("$spid")
wait_port "$sport"
measure gateway-stdio "http://127.0.0.1:$sport/mcp" "$spid"
kill "$spid"

# 3b. the same with one child shared by all sessions (--shared-upstream): no process per
# session, the answer to the "process explosion" that per-session fronts have.
hport=$(freeport)
"$bin/fastmcp-auth" serve --no-auth --addr "127.0.0.1:$hport" --max-sessions 1000 --shared-upstream \
  -- node "$EV" stdio >"$bin/gw-shared.log" 2>&1 &
hpid=$!; pids+=("$hpid")
wait_port "$hport"
measure gateway-stdio-shared "http://127.0.0.1:$hport/mcp" "$hpid"
kill "$hpid"

# 4. supergateway, stateful (a child per session, like the gateway).
pport=$(freeport)
node "$SG" --stdio "node $EV stdio" --outputTransport streamableHttp --stateful --port "$pport" \
  --streamableHttpPath /mcp --logLevel none >"$bin/sg.log" 2>&1 &
ppid=$!; pids+=("$ppid")
wait_port "$pport"
measure supergateway-stdio "http://127.0.0.1:$pport/mcp" "$ppid"
kill "$ppid"
kill "$dpid"

python3 - "$bin" "$SESSIONS" <<'PY'
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
rows = {}
for name in ["direct", "gateway-http", "gateway-stdio", "gateway-stdio-shared", "supergateway-stdio"]:
    r = json.load(open(f"{d}/{name}.json"))
    r0 = int(open(f"{d}/{name}.rss0").read().strip() or 0) / 1024
    r["mem_per_session"] = max(r.get("server_peak_rss_mib", 0) - r0, 0) / n
    rows[name] = r
base = rows["direct"]
print(f"| target | calls/s | p50 ms | p99 ms | added p50 ms | added p99 ms | front CPU µs/call | front MiB/session | errors |")
print("|---|---|---|---|---|---|---|---|---|")
for name, r in rows.items():
    ap50 = r["p50_ms"] - base["p50_ms"]
    ap99 = r["p99_ms"] - base["p99_ms"]
    print(f"| {name} | {r['calls_per_second']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
          f"{'' if name == 'direct' else f'{ap50:+.2f}'} | {'' if name == 'direct' else f'{ap99:+.2f}'} | "
          f"{r.get('server_cpu_us_per_call', 0):.0f} | {r['mem_per_session']:.2f} | {r['errors']} |")
ours, theirs = rows["gateway-stdio"], rows["supergateway-stdio"]
def ratio(a, b):
    return f"{a / b:.2f}x" if b > 0 else "n/a (supergateway added nothing)"
print(f"\nstdio gateway / supergateway (a child per session each): p99 {ratio(ours['p99_ms'], theirs['p99_ms'])}, "
      f"added p99 {ratio(ours['p99_ms'] - base['p99_ms'], theirs['p99_ms'] - base['p99_ms'])}, "
      f"CPU per call {ratio(ours['server_cpu_us_per_call'], theirs['server_cpu_us_per_call'])}")
print(f"\nother CPU on the machine while measuring (cores): " +
      ", ".join(f"{k} {v['other_cpu_cores']:.2f}" for k, v in rows.items()))
PY
