"""Producing items in a background thread for a consumer, through a bounded queue.

:class:`BackgroundFeeder` is the skeleton: a subclass implements :meth:`_produce` (a generator
of the items, run in the thread); iterating the feeder yields them in order, re-raising any
exception of the thread in the consumer. At most ``depth`` items wait in the queue, so the
producer stays a little ahead and memory stays bounded. :meth:`close` stops the thread, also
when the consumer gives up early: a producer blocked on a full queue notices and returns,
and its generator is closed (its ``finally`` blocks run) in the thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator


class _Crash:
    """An exception of the producer, re-raised in the consumer."""

    def __init__(self, error: BaseException):
        self.error = error


_END = object()


class BackgroundFeeder:
    """Items of :meth:`_produce`, made in a daemon thread named ``name``, delivered in order by
    iteration. The thread starts at construction: a subclass sets what :meth:`_produce` needs
    before calling ``super().__init__``."""

    def __init__(self, *, depth: int, name: str):
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, int(depth)))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _produce(self) -> Iterator:
        """The items, in order (runs in the background thread)."""
        raise NotImplementedError

    def _put(self, item: object) -> bool:
        """Queue ``item`` unless stopped first (so a closed consumer never leaves us blocked)."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        items = self._produce()
        try:
            for item in items:
                if not self._put(item):
                    return
            self._put(_END)
        except BaseException as err:  # noqa: BLE001 - handed to the consumer, re-raised there
            self._put(_Crash(err))
        finally:
            items.close()  # a producer left early runs its clean-up here, in the thread

    def __iter__(self) -> Iterator:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, _Crash):
                raise item.error
            yield item

    def close(self, timeout: float | None = None) -> None:
        """Stop the producer and wait for its thread (at most ``timeout`` seconds)."""
        self._stop.set()
        self._thread.join(timeout)
