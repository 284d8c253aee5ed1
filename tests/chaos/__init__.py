"""The chaos harness: the real pipeline on a private Kafka broker and Redis, under kill -9s,
restarts and failing receivers, judged against `pulse replay` (docs/chaos.md)."""
