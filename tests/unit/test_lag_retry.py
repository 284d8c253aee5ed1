"""`try_group_lag` turns a retriable broker answer into "not yet" (None) instead of an error.

A fresh broker answers FindCoordinator with GROUP_COORDINATOR_NOT_AVAILABLE until
`__consumer_offsets` exists; CI hit that once in `wait_caught_up`. A refused connection is the
retriable error that can be produced here without a broker.
"""

from __future__ import annotations

import asyncio

from aiokafka.errors import KafkaConnectionError

from streams.dev.stack import free_port
from streams.kafka import group_lag, try_group_lag


def test_a_retriable_error_is_not_yet_not_a_crash() -> None:
    bootstrap = f"127.0.0.1:{free_port()}"  # nothing listens there
    try:
        asyncio.run(group_lag(bootstrap, "g", ["t"]))
        raise AssertionError("group_lag reached a broker on a closed port")
    except KafkaConnectionError as exc:
        assert exc.retriable  # the premise: this is the retriable kind
    assert asyncio.run(try_group_lag(bootstrap, "g", ["t"])) is None
