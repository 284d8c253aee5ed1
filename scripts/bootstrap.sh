#!/usr/bin/env bash
# Install what a fresh Debian machine lacks for Pulse, then the Python env. Idempotent.
#   system: Java 17+ (Kafka), Maven (fetches Kafka's jars from Maven Central), redis-server, openssl,
#           node + npm and chromium (the tests' Segment Node client, axe-core and browser),
#           prometheus (promtool); kustomize and composecheck built with Go into .pulse/tools/bin
#   python: .venv with the package and its dev extra, pinned by constraints.txt; scoring's hot
#           modules compiled with mypyc into scoring/_compiled/ (scripts/build_native.py)
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need+=(maven)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v openssl >/dev/null 2>&1 || need+=(openssl)  # the secure stack's CA (pulse stack up --secure)
command -v gcc >/dev/null 2>&1 || need+=(gcc)  # mypyc builds scoring's hot modules (below)
command -v node >/dev/null 2>&1 || need+=(nodejs)  # the Segment Node client in the ingest tests
command -v npm >/dev/null 2>&1 || need+=(npm)
# the dashboard's browser tests: Playwright drives Debian's chromium (no browser download here)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if ((${#need[@]})); then
  echo "bootstrap: installing ${need[*]} (Debian packages)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
  # Debian starts its own redis-server service on 6379; Pulse runs its own on 16379.
fi
# Prometheus + promtool (Debian's package) for the deploy/prometheus checks and the scrape test.
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
  echo "bootstrap: installing prometheus (Debian package)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  ((${#need[@]})) || $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  # On a systemd machine Debian starts a prometheus service on :9090. The tests never use it
  # (they start their own on a free port); stop it so it does not scrape and compete for CPU.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
    $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi
# kustomize (renders deploy/k8s in tests/unit/test_deploy_files.py), built from the Go module proxy.
KUSTOMIZE=sigs.k8s.io/kustomize/kustomize/v5@v5.8.1
if ! command -v kustomize >/dev/null 2>&1 && [ ! -x .pulse/tools/bin/kustomize ]; then
  if command -v go >/dev/null 2>&1; then
    echo "bootstrap: go install $KUSTOMIZE"
    GOBIN="$PWD/.pulse/tools/bin" go install "$KUSTOMIZE"
  else
    echo "bootstrap: no Go toolchain, kustomize not installed (the k8s render tests will fail under CI)" >&2
  fi
fi
# composecheck: docker-compose.yml through compose-go, the loader of `docker compose config`.
cc=.pulse/tools/bin/composecheck
if command -v go >/dev/null 2>&1 && { [ ! -x $cc ] || [ -n "$(find deploy/tools/composecheck -newer $cc -type f)" ]; }; then
  echo "bootstrap: building $cc (compose-go)"
  go build -C deploy/tools/composecheck -o "$PWD/$cc" .
fi

PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "bootstrap: Python 3.11+ is needed, found $("$PY" --version 2>&1)" >&2; exit 1
fi
stamp=.venv/.pulse-installed
if [ ! -x .venv/bin/python ] || [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  echo "bootstrap: creating .venv and installing customer-pulse[dev]"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -c constraints.txt -e '.[dev]'
  touch "$stamp"
fi
# JavaScript the tests use (package.json): @segment/analytics-node and axe-core, into node_modules/.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  echo "bootstrap: npm ci (test tools: @segment/analytics-node, axe-core)"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  touch node_modules
fi
# The compiled scoring modules: rebuilt only when a hot module's source changed (~20 s).
.venv/bin/python scripts/build_native.py
