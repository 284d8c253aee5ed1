"""`stop_on_signals`: SIGTERM and SIGINT set the services' stop event."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from streams.lifecycle import STOP_SIGNALS, stop_on_signals


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_sets_the_event(sig: signal.Signals) -> None:
    async def main() -> tuple[bool, bool]:
        stop = stop_on_signals()
        before = stop.is_set()
        os.kill(os.getpid(), sig)
        await asyncio.wait_for(stop.wait(), timeout=10)
        loop = asyncio.get_running_loop()
        for s in STOP_SIGNALS:
            loop.remove_signal_handler(s)
        return before, stop.is_set()

    assert asyncio.run(main()) == (False, True)


def test_the_given_event_is_the_one_set() -> None:
    async def main() -> bool:
        mine = asyncio.Event()
        got = stop_on_signals(mine)
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(mine.wait(), timeout=10)
        for s in STOP_SIGNALS:
            asyncio.get_running_loop().remove_signal_handler(s)
        return got is mine

    assert asyncio.run(main())
