"""Batches made ahead on a background thread (``geobatch.torch.DataLoader(prefetch=k)``)."""

from __future__ import annotations


class _Prefetch:
    """The items of ``batches`` made on a background thread, at most ``depth`` ahead.
    ``close()`` stops the thread and waits for it: nothing it was making outlives the pass."""

    def __init__(self, batches, depth: int):
        import queue
        import threading

        self._queue: "queue.Queue" = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = object()
        self._thread = threading.Thread(target=self._work, args=(batches,), name="geobatch-prefetch",
                                        daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        import queue

        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _work(self, batches):
        try:
            for b in batches:
                if not self._put(b):
                    return
            self._put(self._done)
        except BaseException as e:  # handed to the loop, raised there
            self._put(e)

    def __iter__(self):
        while True:
            item = self._queue.get()
            if item is self._done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        import queue

        self._stop.set()
        self._thread.join()
        while True:  # the batches made ahead go back to the collator
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put_nowait(self._done)  # an iterator of this pass still in use ends
