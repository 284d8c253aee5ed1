"""Pulse's flow control: resuming the streams keeps what the current assignment already delivered
(docs/faust.md, section 8).

Stock `FlowControlEvent.resume` (mode-streaming 0.7.1, mode/utils/queues.py) empties every
stream buffer (`clear()`, which also cancels the puts waiting on a full buffer). Faust resumes
the flow at the end of a rebalance's recovery (`Recovery.on_recovery_completed`,
faust/tables/recovery.py:659) *after* resuming the stream partitions and seeking them, so the
drain loop may already have delivered records of the new assignment into the buffers: the resume
throws them away, while the consumer's read offset says they were read. Nothing acknowledges
them, so the partition's commit cannot pass them, and the fetcher does not return them again.

The clear on resume exists for records delivered before the rebalance. Those carry an older
`generation_id` (stamped by the consumer when it fetched them); Faust's streams skip such events
anyway (`Stream._py_aiter`, faust/streams.py:1287, and the Cython iterator that runs when it is
built, faust/_cython/streams.pyx:182), and a revocation already clears the buffers
when it suspends the flow. `KeepCurrentFlowControl.resume` therefore drops what stock drops
except the events of the consumer's current generation on committing (acking) topics, keeps
those in order, and wakes the puts waiting for room instead of cancelling them (a cancelled put
of a current event would be the same loss; a put of a stale event puts an event the stream
skips). Suspending, clearing at a revocation and everything else is stock.
"""

from __future__ import annotations

from typing import Any

from mode.utils.queues import FlowControlEvent


class KeepCurrentFlowControl(FlowControlEvent):
    """`FlowControlEvent` whose `resume` keeps the current generation's events (module doc)."""

    kept = 0  # events kept in a buffer by a resume (stock would have dropped them)
    dropped = 0  # events dropped by a resume (stale generation, or not a committing topic)

    def __init__(self, app: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.app = app

    def resume(self) -> None:
        # stock: self._suspend.clear(); self._resume.set(); self.clear()
        self._suspend.clear()
        self._resume.set()
        self.clear_stale()

    def clear_stale(self) -> None:
        generation = self.app.consumer_generation_id
        acking = self.app.topics.acking_topics
        for queue in list(self._queues):
            items = queue._queue  # type: ignore[attr-defined]
            keep = [x for x in items if _current(x, generation, acking)]
            self.dropped += len(items) - len(keep)
            self.kept += len(keep)
            items.clear()
            items.extend(keep)
            errors = getattr(queue, "_errors", None)
            if errors is not None:
                errors.clear()  # as stock's ThrowableQueue.clear
            putters = getattr(queue, "_putters", None)
            if putters:  # room again: let as many waiting puts in as fit
                room = len(putters) if queue.maxsize <= 0 else max(0, queue.maxsize - queue.qsize())
                for _ in range(room):
                    if not putters:
                        break
                    queue._wakeup_next(putters)  # type: ignore[attr-defined]


def _current(item: Any, generation: int, acking: Any) -> bool:
    message = getattr(item, "message", None)
    return (message is not None and message.generation_id == generation
            and message.topic in acking)
