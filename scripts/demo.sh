#!/usr/bin/env bash
# `make demo`: the real local stack, then Pulse end to end on examples/demo.jsonl:
# backtest with replay, then the streaming worker on Kafka, ending with the alerts it raised.
set -euo pipefail
cd "$(dirname "$0")/.."
P=.venv/bin/pulse
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
export PULSE_TOPIC_PREFIX="demo.$(date +%s)."   # a fresh pipeline every run
export PULSE_DATA_DIR=.pulse/demo/data
mkdir -p .pulse/demo

say "1. stack: Apache Kafka (KRaft) + Redis on loopback"
$P stack up --no-topics

say "2. backtest: pulse replay examples/demo.jsonl (pure core, no Kafka)"
$P replay examples/demo.jsonl --out .pulse/demo/replay
echo "final scores:"; cat .pulse/demo/replay/scores.jsonl

say "3. stream: worker on Kafka (topics ${PULSE_TOPIC_PREFIX}*)"
$P worker --loglevel warning > .pulse/demo/worker.log 2>&1 &
worker=$!
trap 'kill $worker 2>/dev/null || true; wait $worker 2>/dev/null || true' EXIT
$P produce examples/demo.jsonl

say "4. alerts raised by the worker (band changes; globex goes silent and the sweep drops it)"
$P alerts tail --from-beginning --idle-exit 15

say "4b. notifier: the alerts routed by the band table to a local webhook receiver and SMTP inbox"
bash scripts/demo_notifier.sh

say "5. state: pulse scores export (from the worker's changelog)"
$P scores export .pulse/demo/scores.jsonl && cat .pulse/demo/scores.jsonl
echo; echo "dead-lettered (invalid input): see topic ${PULSE_TOPIC_PREFIX}events-dlq; worker log: .pulse/demo/worker.log"
