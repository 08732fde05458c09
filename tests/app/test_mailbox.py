"""Newest wins (app/mailbox.py): a slow consumer sees the newest result, and every result it skips is counted."""
from __future__ import annotations

import threading

import numpy as np

from app.mailbox import LatestMailbox
from pipeline.packet import FramePacket


def packet(seq: int, stream: str = "a") -> FramePacket:
    p = FramePacket(seq=seq, timestamp=seq / 30, color=np.zeros((2, 2, 3), np.uint8))
    p.stream_id = stream
    return p


def test_a_slow_consumer_gets_the_newest_and_what_it_skips_is_counted():
    busy, release, seen = threading.Event(), threading.Event(), []

    def consume(p: FramePacket) -> None:
        seen.append(p.seq)
        if p.seq == 0:
            busy.set()
            release.wait(5)

    box = LatestMailbox(consume)
    box.put(packet(0))
    assert busy.wait(5)  # the consumer holds frame 0
    box.put(packet(1))
    box.put(packet(2))  # replaces 1, never seen
    assert box.replaced == 1
    # the consumer, having waited before drawing frame 0, learns that a newer one waits: 0 counts as skipped too
    assert box.skip_if_newer(packet(0)) and box.replaced == 2
    assert not box.skip_if_newer(packet(0, stream="b"))  # nothing newer of another stream
    release.set()
    box.close()
    assert seen == [0, 2]
