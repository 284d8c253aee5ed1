"""`pulse scores export`: every account's score and band, read from the account-state changelog.

Reads the compacted changelog topic of the worker's account-state table up to its current end
(latest value per key), rebuilds each partition's `PartitionState` with the pure core, and
writes what replay's end-of-input advance would leave, as of each partition's clock, in
replay's `scores.jsonl` format; with `health_out` (a model with `[health]`), also each account's
health after that advance in replay's `health_scores.jsonl` format. No running worker is needed.

The model: the worker records the model it scores with in its state (`MODEL_KEY` rows, one per
partition). Export uses that model by default; a `model` passed in must have the same
fingerprint, unless `force` (then the passed model scores the recorded state, as asked).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from scoring.errors import ModelError
from scoring.model import Model, model_fingerprint
from streams.kafka import kafka_auth, wait_assigned
from streams.offline.replay import write_health_scores, write_scores
from streams.settings import Settings
from streams.topics import TopicNames
from streams.worker.partition_state import MODEL_KEY, PartitionState, read_model_record


async def read_changelog(bootstrap: str, topic: str) -> dict[int, dict[bytes, bytes]]:
    """Latest value per key, per partition, up to the end offsets seen at start."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=8 * 1024 * 1024,
                                **kafka_auth())
    await consumer.start()
    latest: dict[int, dict[bytes, bytes]] = defaultdict(dict)
    try:
        try:
            await wait_assigned(consumer, topic)
        except LookupError:
            return {}
        tps = sorted(consumer.assignment())
        ends = await consumer.end_offsets(tps)
        todo = {tp for tp in tps if ends[tp] > 0}
        while todo:
            batches = await consumer.getmany(*todo, timeout_ms=1000, max_records=10000)
            for tp, records in batches.items():
                for r in records:
                    if r.key is None:
                        continue
                    if r.value is None:
                        latest[tp.partition].pop(r.key, None)
                    else:
                        latest[tp.partition][r.key] = r.value
                if records and records[-1].offset + 1 >= ends[tp]:
                    todo.discard(tp)
            for tp in list(todo):
                if await consumer.position(tp) >= ends[tp]:
                    todo.discard(tp)
    finally:
        await consumer.stop()
    return latest


class ModelMismatchError(ModelError):
    """The model asked for is not the one the worker recorded."""


def recorded_model(latest: dict[int, dict[bytes, bytes]]) -> tuple[str, Model] | None:
    """(fingerprint, model) the worker recorded in its state; None if it recorded none (a state
    written before models were recorded). Different models on different partitions: an error."""
    found = {p: read_model_record(items[MODEL_KEY]) for p, items in latest.items() if MODEL_KEY in items}
    fingerprints = {fp for fp, _ in found.values()}
    if len(fingerprints) > 1:
        where = ", ".join(f"partition {p}: {fp}" for p, (fp, _) in sorted(found.items()))
        raise ModelMismatchError(f"the worker's partitions record different models ({where}); "
                                 "pass the one to use with --model and --force")
    return next(iter(found.values()), None)


def choose_model(latest: dict[int, dict[bytes, bytes]], model: Model | None, force: bool) -> Model:
    """The recorded model; or `model`, which must match it unless `force`."""
    recorded = recorded_model(latest)
    if model is None:
        if recorded is None:
            raise ModelMismatchError("the worker's state records no model (written by an older worker): "
                                     "pass the worker's model with --model")
        return recorded[1]
    if recorded is not None and recorded[0] != model_fingerprint(model) and not force:
        raise ModelMismatchError(
            f"--model has fingerprint {model_fingerprint(model)}, but the worker scored with "
            f"{recorded[0]}: its bands would not be the worker's. Leave out --model to use the "
            "worker's, or add --force to score the worker's state with this model anyway")
    return model


async def export_scores(s: Settings, model: Model | None, sweep_seconds: int, out: Path,
                        health_out: Path | None = None, *, force: bool = False) -> int:
    """Write the scores (and health); `model` None: the model the worker recorded."""
    latest = await read_changelog(s.bootstrap, TopicNames.from_settings(s).account_state_changelog)
    if not latest:  # no worker state yet: no account to score, whatever the model
        write_scores(out, [])
        if health_out is not None:
            write_health_scores(health_out, [])
        return 0
    model = choose_model(latest, model, force)
    if health_out is not None and model.health is None:
        raise ModelError("--health: the model has no [health] table")
    rows: list[tuple[str, float, str]] = []
    health: list[tuple[str, float | None, str | None, dict[str, float | None]]] = []
    for p, items in sorted(latest.items()):
        scorer = PartitionState.restore(p, model, sweep_seconds, items.items()).scorer
        scorer.finish()  # replay's end-of-input advance, on this copy of the state
        rows.extend(scorer.scores())
        health.extend(scorer.health_scores())
    rows.sort()
    write_scores(out, rows)
    if health_out is not None:
        write_health_scores(health_out, sorted(health, key=lambda r: r[0]))
    return len(rows)

