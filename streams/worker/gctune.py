"""The worker's use of Python's cyclic garbage collector (docs/operations.md "Garbage collection").

The worker holds its partitions' state (tens of thousands of accounts) as many small, long-lived
objects. Python's cyclic collector walks every object of its oldest generation in a full (gen-2)
collection, which it starts each time that generation has grown by a quarter: with tens of
thousands of accounts a full pass stops the event loop long enough to show in the alert latency,
every few seconds while the state grows, and finds nothing to free (measured in
docs/benchmarks.md "Garbage collection pauses").

`GcPolicy` takes the state out of those passes with `gc.freeze()` (objects moved to the
permanent generation are never walked again; reference counting still frees them as usual):

- after every rebalance, once the assigned partitions' state is restored (`after_restore`);
- every `freeze_seconds`, from a timer on the event loop (between batches), so a full pass only
  ever walks what was allocated and kept since the last freeze;
- when a rebalance starts (`before_revoke`, from `RebalanceSensor`) everything is unfrozen
  again, and nothing is frozen until the restore after it: Faust's revocation waits for the
  agents' in-flight messages with `gc.collect()` and closes the revoked partitions' RocksDB
  databases with another, and processing is stopped anyway; those full passes also free any
  cycle frozen while in use.

The cost: an object that was alive at a freeze and later becomes garbage *in a reference
cycle* is only freed at the next rebalance or the next thaw: every `thaw_seconds` the policy
unfreezes everything and runs one full collection (one long pause) before freezing again.
`freeze_seconds = 0` turns freezing off. `threshold` (optional) replaces `gc.set_threshold`'s
three values. `pulse_gc_pause_seconds{generation}` measures every collection's pause.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from typing import Any

import faust
from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from streams.worker.metrics import REGISTRY

PAUSE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
GC_PAUSE = Histogram("pulse_gc_pause_seconds", "Pause of one cyclic garbage collection of the worker "
                     "process (the event loop is stopped meanwhile), by generation.", ["generation"],
                     buckets=PAUSE_BUCKETS, registry=REGISTRY)
_pause = [GC_PAUSE.labels(generation=str(g)) for g in range(3)]


class PauseTimer:
    """A `gc.callbacks` hook observing every collection's duration into `pulse_gc_pause_seconds`."""

    def __init__(self) -> None:
        self.started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        else:
            _pause[info["generation"]].observe(time.perf_counter() - self.started)


class GcCollector(Collector):
    """At scrape time: collections per generation (`pulse_gc_collections`), the thresholds
    (`pulse_gc_threshold`) and the objects frozen (`pulse_gc_frozen_objects`)."""

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        runs = CounterMetricFamily("pulse_gc_collections", "Cyclic garbage collections, by generation.",
                                   labels=["generation"])
        for g, stat in enumerate(gc.get_stats()):
            runs.add_metric([str(g)], stat["collections"])
        yield runs
        threshold = GaugeMetricFamily("pulse_gc_threshold", "gc.get_threshold(): allocations minus "
                                      "deallocations before a gen-0 collection, then collections of the "
                                      "younger generation before one of gen 1 and gen 2.",
                                      labels=["generation"])
        for g, value in enumerate(gc.get_threshold()):
            threshold.add_metric([str(g)], value)
        yield threshold
        yield GaugeMetricFamily("pulse_gc_frozen_objects", "Objects in the permanent generation "
                                "(gc.freeze): never walked by a collection.", value=gc.get_freeze_count())


_installed: list[PauseTimer] = []  # the process's one pause hook (and collector)


def install_metrics() -> None:
    """Measure every collection's pause and export the collector's figures (once per process)."""
    if not _installed:
        timer = PauseTimer()
        gc.callbacks.append(timer)
        REGISTRY.register(GcCollector())
        _installed.append(timer)


class GcPolicy:
    """What the worker does with the collector: `apply` at start-up, then `freeze` every
    `freeze_seconds` (a timer of the worker), `after_restore` and `before_revoke` (agents)."""

    def __init__(self, freeze_seconds: float, threshold: tuple[int, int, int] | None = None,
                 thaw_seconds: float = 0) -> None:
        self.freeze_seconds = freeze_seconds
        self.threshold = threshold
        self.thaw_seconds = thaw_seconds  # unfreeze + one full collection this often (0: never)
        self.rebalancing = False  # from a revocation to the restore after it: no freezing
        self.last_thaw = time.monotonic()

    @property
    def freezing(self) -> bool:
        return self.freeze_seconds > 0

    def apply(self) -> None:
        if self.threshold is not None:
            gc.set_threshold(*self.threshold)
        install_metrics()

    def freeze(self) -> None:
        if not self.freezing or self.rebalancing:
            return
        if self.thaw_seconds > 0 and time.monotonic() - self.last_thaw >= self.thaw_seconds:
            self.thaw()
        gc.freeze()

    def thaw(self) -> int:
        """Unfreeze and run one full collection (one long pause): frees the cycles that became
        garbage while frozen. Returns the objects it freed."""
        self.last_thaw = time.monotonic()
        gc.unfreeze()
        return gc.collect()

    def after_restore(self) -> None:
        self.rebalancing = False
        self.freeze()

    def before_revoke(self) -> None:
        """Unfreeze, and freeze nothing until the rebalance's restore: Faust's `gc.collect()`
        when it closes the revoked partitions' databases must see every object."""
        self.rebalancing = True
        if self.freezing:
            gc.unfreeze()


class RebalanceSensor(faust.Sensor):
    """Tells the policy when a rebalance starts: Faust calls its sensors' `on_rebalance_start`
    from the consumer's revocation callback, before it waits for the agents' in-flight
    messages (`Consumer.wait_empty`), which runs `gc.collect()` to free messages dropped from
    the agents' buffers; frozen, such a message would never be freed and the wait never end."""

    def __init__(self, policy: GcPolicy) -> None:
        super().__init__()
        self.policy = policy

    def on_rebalance_start(self, app: Any) -> dict[str, Any]:
        self.policy.before_revoke()
        return super().on_rebalance_start(app)
