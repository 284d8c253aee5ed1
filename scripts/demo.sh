#!/usr/bin/env bash
# `make demo`: the real local stack, then Pulse end to end on examples/demo.jsonl:
# backtest with replay, then the streaming worker on Kafka fed through `pulse ingest` by the official
# Python Segment client, ending with the alerts it raised and the dashboard's URL.
set -euo pipefail
cd "$(dirname "$0")/.."
P=.venv/bin/pulse
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
export PULSE_TOPIC_PREFIX="demo.$(date +%s)."   # a fresh pipeline every run
export PULSE_DATA_DIR=.pulse/demo/data
export PULSE_DEMO_REDIS_PREFIX="demo:$(date +%s):"   # the notifier's delivery state (the dashboard reads it)
mkdir -p .pulse/demo

say "1. stack: Apache Kafka (KRaft) + Redis on loopback"
$P stack up --no-topics

say "2. backtest: pulse replay examples/demo.jsonl (pure core, no Kafka)"
$P replay examples/demo.jsonl --out .pulse/demo/replay
echo "final scores:"; cat .pulse/demo/replay/scores.jsonl

say "3. stream: worker on Kafka (topics ${PULSE_TOPIC_PREFIX}*), pulse ingest in front of it"
$P worker --loglevel warning > .pulse/demo/worker.log 2>&1 &
worker=$!
INGEST_PORT="${PULSE_INGEST_PORT:-$(.venv/bin/python -c 'from streams.dev.stack import free_port; print(free_port())')}"
$P ingest --config examples/ingest.demo.toml --port "$INGEST_PORT" --loglevel warning > .pulse/demo/ingest.log 2>&1 &
ingest=$!
trap 'kill $worker $ingest 2>/dev/null || true; wait $worker $ingest 2>/dev/null || true' EXIT
.venv/bin/python scripts/wait_ready.py "http://127.0.0.1:$INGEST_PORT/ready" .pulse/demo/ingest.log "$ingest"
echo "pulse ingest: http://127.0.0.1:$INGEST_PORT (write keys: examples/ingest.demo.toml)"
# the official Python client (segment-analytics-python), pointed at the ingest through its host option
.venv/bin/python -m streams.dev.segment_send examples/demo.jsonl \
  --host "http://127.0.0.1:$INGEST_PORT" --write-key pulse-demo-python-key

say "4. alerts raised by the worker (band changes; globex goes silent and the sweep drops it)"
$P alerts tail --from-beginning --idle-exit 15

say "4b. notifier: the alerts routed by the band table to a local webhook receiver and SMTP inbox"
bash scripts/demo_notifier.sh

say "5. state: pulse scores export (from the worker's changelog)"
$P scores export .pulse/demo/scores.jsonl && cat .pulse/demo/scores.jsonl
echo; echo "dead-lettered (invalid input): see topic ${PULSE_TOPIC_PREFIX}events-dlq; logs: .pulse/demo/worker.log, .pulse/demo/ingest.log"

say "5b. secrets: the demo's write key and webhook signing secret appear in none of its logs"
for secret in pulse-demo-python-key "$(grep -m1 -o 'whsec_[A-Za-z0-9+/=]*' examples/notifier.demo.toml)"; do
  if grep -lF -- "$secret" .pulse/demo/*.log; then echo "a secret of the demo is in the log(s) above"; exit 1; fi
done
echo "none in $(ls .pulse/demo/*.log | wc -l) logs ($(cat .pulse/demo/*.log | wc -c) bytes)"

say "6. dashboard: portfolio, at-risk list, account pages, PQLs, live alerts (pulse dashboard)"
DASH_PORT="${PULSE_DASHBOARD_PORT:-6070}"
# one demo dashboard at a time: the previous run's (if still up) gives way to this pipeline's
if [ -f .pulse/demo/dashboard.pid ]; then kill "$(cat .pulse/demo/dashboard.pid)" 2>/dev/null || true; sleep 1; fi
PULSE_DASHBOARD_REDIS_PREFIX="$PULSE_DEMO_REDIS_PREFIX" nohup $P dashboard --port "$DASH_PORT" --loglevel warning > .pulse/demo/dashboard.log 2>&1 &
echo $! > .pulse/demo/dashboard.pid
.venv/bin/python scripts/wait_ready.py "http://127.0.0.1:$DASH_PORT/healthz" .pulse/demo/dashboard.log
echo "the dashboard keeps running after the demo (pid $(cat .pulse/demo/dashboard.pid); stop it with: kill $(cat .pulse/demo/dashboard.pid))"
printf '\n\033[1mdashboard: http://127.0.0.1:%s/\033[0m\n' "$DASH_PORT"
