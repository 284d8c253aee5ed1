"""How a long-running service of ours learns it should stop.

Every service (`pulse ingest`, the notifier, the dashboard, the local sinks) runs until SIGINT or
SIGTERM and then shuts down in order: in-flight work first, connections last. They all take
that signal the same way, here.
"""

from __future__ import annotations

import asyncio
import signal

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def stop_on_signals(stop: asyncio.Event | None = None) -> asyncio.Event:
    """Return an event (`stop`, or a new one) that SIGINT and SIGTERM set.

    Must be called with the event loop running; the handlers stay installed until the loop
    closes (asyncio removes them then)."""
    stop = stop if stop is not None else asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    return stop
