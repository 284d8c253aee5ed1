# The two commands of the README:
#   make demo   the real local stack + worker + notifier + example telemetry, ending with alerts
#   make test   the whole test suite against a real Kafka broker and Redis
# Both set up what they need first (idempotent).

BIN := .venv/bin
# PULSE_SCORING=native: the suite runs on the compiled scoring modules and fails if they are stale
TEST_CMD := PULSE_SCORING=native $(BIN)/python -m pytest -q -p no:cacheprovider tests/unit tests/integration tests/e2e

.PHONY: setup native demo test test-pure lint stack-up stack-down bench chaos clean-stack

setup:
	@bash scripts/bootstrap.sh

demo: setup
	@bash scripts/demo.sh

test: setup
	@$(BIN)/pulse stack up --no-topics >/dev/null
	$(TEST_CMD)

native: setup
	$(BIN)/python scripts/build_native.py

# the pure-Python scoring modules (what runs where nothing was compiled), unit tests only
test-pure: setup
	PULSE_SCORING=pure $(BIN)/python -m pytest -q -p no:cacheprovider tests/unit

lint: setup
	$(BIN)/ruff check scoring streams tests
	$(BIN)/mypy scoring streams
	$(BIN)/lint-imports

stack-up: setup
	$(BIN)/pulse stack up

stack-down:
	$(BIN)/pulse stack down

bench: setup
	$(BIN)/python -m tests.bench.bench_replay

# the chaos harness (docs/chaos.md): ~10 min, its own broker and Redis; not part of `make test`
chaos: setup
	flock /tmp/pulse-bench.lock $(BIN)/pulse bench chaos $(CHAOS_ARGS)

clean-stack: stack-down
	rm -rf .pulse/stack
