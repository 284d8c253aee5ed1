#!/usr/bin/env bash
# The notifier part of `make demo` (called by scripts/demo.sh once alerts are on the topic
# ${PULSE_TOPIC_PREFIX}alerts): a local webhook receiver and SMTP inbox, `pulse notifier` with
# examples/notifier.demo.toml (band-table routes), and what arrived.
set -euo pipefail
cd "$(dirname "$0")/.."
P=.venv/bin/pulse
D=.pulse/demo
mkdir -p $D
SECRET=$(sed -n 's/^secret = "\(whsec_[^"]*\)"/\1/p' examples/notifier.demo.toml | head -1)
METRICS_PORT=${PULSE_DEMO_NOTIFIER_PORT:-16067}
PREFIX="${PULSE_DEMO_REDIS_PREFIX:-demo:$(date +%s):}"   # fresh delivery state in Redis every run

.venv/bin/python -m streams.dev.devsinks --webhook-port 18787 --smtp-port 18025 --secret "$SECRET" \
  > $D/sinks.log 2>&1 &
sinks=$!
GROUP="${PULSE_TOPIC_PREFIX:-pulse.}notifier-demo-$(date +%s)"   # reads the topic from its start
$P notifier --config examples/notifier.demo.toml --redis-prefix "$PREFIX" --group "$GROUP" \
  --metrics-port "$METRICS_PORT" > $D/notifier.log 2>&1 &
notifier=$!
trap 'kill $notifier $sinks 2>/dev/null || true; wait $notifier $sinks 2>/dev/null || true' EXIT

for _ in $(seq 1 120); do   # until a webhook and an e-mail arrived (at most 60 s)
  if grep -q '^\[webhook' $D/sinks.log && grep -q '^\[smtp inbox' $D/sinks.log; then break; fi
  if ! kill -0 $notifier 2>/dev/null; then echo "pulse notifier stopped:"; cat $D/notifier.log; exit 1; fi
  sleep 0.5
done
sleep 2   # the rest of the batch
echo "what arrived at the local webhook receiver and SMTP inbox:"
grep -E '^\[(webhook|smtp)' $D/sinks.log || { echo "nothing arrived; see $D/notifier.log"; exit 1; }
echo; echo "held back by the cooldown (one alert per account and route per hour unless worse):"
grep -o 'alert .* held back by the cooldown of route .*' $D/notifier.log || echo "  none"
echo; echo "notifier counters (http://127.0.0.1:$METRICS_PORT/metrics):"
curl -fsS "http://127.0.0.1:$METRICS_PORT/metrics" 2>/dev/null \
  | grep -E '^pulse_notifier_(delivered|retried|dead_lettered)_total' || echo "  (metrics port busy)"
$P alerts dlq list --redis-prefix "$PREFIX"
echo "notifier log: $D/notifier.log; sinks: $D/sinks.log"
