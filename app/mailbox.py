"""Newest wins: a consumer slower than the graph (a window painting) gets the newest result of each stream on a
thread of its own and skips the ones it had no time for, so it never holds the graph up. Used by
``Session(on_result=...)`` and by the UI's controller."""
from __future__ import annotations

import logging
import threading
from typing import Callable

from pipeline.packet import FramePacket

log = logging.getLogger(__name__)


class LatestMailbox:
    """Hands the newest packet of each stream to ``callback`` on its own thread; older unread ones are replaced."""

    def __init__(self, callback: Callable[[FramePacket], None]) -> None:
        self.callback = callback
        self._latest: dict[str, FramePacket] = {}
        self._cond = threading.Condition()
        self._closed = False
        self.replaced = 0  # results a slow consumer never saw
        self._thread = threading.Thread(target=self._loop, name="on-result", daemon=True)
        self._thread.start()

    def put(self, packet: FramePacket) -> None:
        with self._cond:
            if packet.stream_id in self._latest:
                self.replaced += 1
            self._latest[packet.stream_id] = packet
            self._cond.notify()

    def skip_if_newer(self, packet: FramePacket) -> bool:
        """For a consumer that waited before using ``packet`` (a window holding its draw rate): True, and the
        packet counted as replaced, where a newer result of its stream already waits here."""
        with self._cond:
            if packet.stream_id not in self._latest:
                return False
            self.replaced += 1
            return True

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._latest and not self._closed:
                    self._cond.wait()
                if not self._latest and self._closed:
                    return
                sid = next(iter(self._latest))
                packet = self._latest.pop(sid)
            try:
                self.callback(packet)
            except Exception:
                log.exception("on_result callback failed")

    def close(self, timeout_s: float = 5.0) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
