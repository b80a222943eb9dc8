#!/usr/bin/env bash
# The project's test command (README "Run the tests"). Installs what the tests need, then runs
# every test: Go unit tests with -race, the interoperability tests with real third-party MCP
# clients (Node), the browser tests (Debian's chromium), the OS key store test (Debian's
# gnome-keyring on a private D-Bus), the cross-builds, and the fuzz targets briefly.
#
#   scripts/test.sh            everything
#   SKIP_INSTALL=1 scripts/test.sh   do not try to install chromium / npm packages
#   CROSS_TARGETS="..." scripts/test.sh   cross-build other GOOS/GOARCH pairs (see below)
set -euo pipefail
cd "$(dirname "$0")/.."

# log names each step with the seconds since the start, so that a slow run shows which step
# took the time (CI's budget is 25 minutes; a first run installs packages and builds tools).
log() { printf '==> [%4ds] %s\n' "$SECONDS" "$*" >&2; }

# install_debian PURPOSE PACKAGE...: as root with apt-get, install the Debian packages a group
# of tests needs; otherwise say what to install (those tests skip, and fail under CI=true).
install_debian() {
  local purpose="$1"
  shift
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing $* (Debian packages) for $purpose"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    log "$* missing: install it (apt-get install $*) or $purpose will skip (fail under CI=true)"
  fi
}

if [ -z "${SKIP_INSTALL:-}" ]; then
  if ! command -v chromium >/dev/null 2>&1; then
    install_debian "the browser tests" chromium
  fi
  if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
    install_debian "the scale-out and replica tests (reliability/, interop/gateway/)" nginx
  fi
  if ! command -v gnome-keyring-daemon >/dev/null 2>&1 || ! command -v dbus-daemon >/dev/null 2>&1; then
    install_debian "the Secret Service test (auth/)" gnome-keyring dbus
  fi
  for dir in interop interop/gateway bench; do
    if [ -f "$dir/package-lock.json" ]; then
      log "npm ci in $dir (pinned by its lock file)"
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    fi
  done
fi

# golangci-lint (gosec, errcheck, staticcheck, bodyclose, revive, misspell; see .golangci.yml),
# at a pinned version installed with the Go toolchain. The first install compiles it (minutes
# on a slow machine); later runs reuse the binary when its version matches.
GOLANGCI_LINT_VERSION=v2.15.0
lint_bin="$(go env GOPATH)/bin/golangci-lint"
if ! "$lint_bin" version 2>/dev/null | grep -q "version ${GOLANGCI_LINT_VERSION#v} "; then
  log "installing golangci-lint $GOLANGCI_LINT_VERSION (go install)"
  go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_LINT_VERSION"
fi
log "golangci-lint"
"$lint_bin" run ./...

log "go vet"
go vet ./...

# The release targets (README "Install"): the binary must build and vet without cgo on each,
# so a Windows or macOS user never meets a Linux-only call (issue 12). By default the two other
# operating systems; linux/arm64 and darwin/amd64 differ from linux/amd64 (this machine, fully
# tested) and darwin/arm64 by architecture alone, and no file of ours depends on it, while
# each target costs about two minutes on a first run with empty caches (CI's budget is 25
# minutes). CROSS_TARGETS="windows/amd64 darwin/arm64 darwin/amd64 linux/arm64" checks all.
for target in ${CROSS_TARGETS:-windows/amd64 darwin/arm64}; do
  log "cross-build and vet for $target (CGO_ENABLED=0)"
  GOOS="${target%/*}" GOARCH="${target#*/}" CGO_ENABLED=0 go build -o /dev/null .
  GOOS="${target%/*}" GOARCH="${target#*/}" CGO_ENABLED=0 go vet ./...
done

log "go test -race (unit, end-to-end, interoperability, browser)"
go test -race -count=1 -timeout 15m ./...

log "fuzz targets, briefly (seed corpora already ran above as regression tests)"
# Go's fuzzing engine sometimes ends a short run with a bare "context deadline exceeded" when a
# worker is descheduled as the time runs out (no input failed, nothing written to testdata). Such
# a run is tried once more; a real failure ("Failing input written to ...") never is.
fuzz() {
  local out
  if out=$(go test -run='^$' -fuzz="^$2\$" -fuzztime="${FUZZTIME:-8s}" "$1" 2>&1); then
    printf '%s\n' "$out" | tail -n 1
    return 0
  fi
  printf '%s\n' "$out"
  if grep -q 'context deadline exceeded' <<<"$out" && ! grep -q 'Failing input written' <<<"$out"; then
    log "fuzz $2: the engine timed out with no failing input; running it once more"
    go test -run='^$' -fuzz="^$2\$" -fuzztime="${FUZZTIME:-8s}" "$1"
    return
  fi
  return 1
}
while read -r pkg target; do
  [ -n "$pkg" ] && fuzz "$pkg" "$target"
done < <(grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do
  for t in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //'); do
    echo "./$(dirname "${f#./}") $t"
  done
done)
log "all tests passed"
