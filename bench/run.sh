#!/usr/bin/env bash
# Reproduces the tables of docs/performance.md ("Server load" and "Client commands") in one run:
# builds fastmcp-auth (also stripped, for its size), bench/loadgen and bench/compare, installs the
# TypeScript peer's pinned packages if missing, then runs bench/compare, which starts a
# development authority, signs in, and measures each target in turn.
#
#   bench/run.sh                          # 1 round, 10 s per load target (about 2 minutes)
#   ROUNDS=3 DURATION=10s bench/run.sh    # what docs/performance.md reports
#
# Settings (environment): DURATION (10s), WARMUP (2s), ROUNDS (1), SESSIONS (50), RATE (1000),
# LOW_RATE (150; 0 skips), PIN (1: taskset server to CPU 0, load generator to CPU 1; 0: off),
# CLIENT_RUNS (30), PARTS (load,client), JSON_OUT (a file for the raw figures).
# The markdown goes to stdout, progress to stderr. Needs Go, node (and npm), taskset when PIN=1;
# hyperfine is used for the client timings when installed.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT

echo "building..." >&2
go build -o "$bin/fastmcp-auth" .
go build -ldflags "-s -w" -o "$bin/fastmcp-auth-stripped" .
go build -o "$bin/loadgen" ./bench/loadgen
go build -o "$bin/compare" ./bench/compare
if [ ! -d bench/node_modules/@modelcontextprotocol/sdk ]; then
  (cd bench && npm ci --no-audit --no-fund >&2)
fi

pin=true
if [ "${PIN:-1}" = 0 ] || [ "$(nproc)" -lt 2 ] || ! command -v taskset >/dev/null; then
  pin=false
fi

"$bin/compare" \
  --fma "$bin/fastmcp-auth" --fma-stripped "$bin/fastmcp-auth-stripped" --loadgen "$bin/loadgen" \
  --bench-dir bench \
  --duration "${DURATION:-10s}" --warmup "${WARMUP:-2s}" --rounds "${ROUNDS:-1}" \
  --sessions "${SESSIONS:-50}" --rate "${RATE:-1000}" --low-rate "${LOW_RATE:-150}" \
  --pin="$pin" --client-runs "${CLIENT_RUNS:-30}" --parts "${PARTS:-load,client}" \
  --json-out "${JSON_OUT:-}"
