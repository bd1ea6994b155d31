"""Reading BPF ring buffers straight from their memory mapping.

A ring-buffer map maps as: one consumer page (read-write, consumer_pos at
offset 0), then one producer page (read-only, producer_pos at offset 0),
then the data pages, which the kernel offers twice in a row so that a
record wrapping around the end is contiguous.  Every page mapped is
resident at once (the kernel maps the ring's pages when mmap is called), so
we map the data once and copy the rare record that wraps: a ring of N bytes
costs N of resident memory, not 2N.  Each record has an 8-byte header: a
u32 length whose bit 31 means "still being written" (BUSY) and bit 30
"thrown away" (DISCARD), then a u32 page offset; records are 8-byte aligned
and the data size is a multiple of the page size, so a header never wraps.

We read records in batches and publish the new consumer position once per
batch: no ctypes callback per event.  The positions and headers are shared
with the kernel while it runs, so each moves in one aligned load or store:
through memoryviews cast to native "Q"/"I", whose items copy with one
memcpy.  Not struct.pack_into: it zeroes its target before it writes the
value (CPython's s_pack_internal), and a kernel reading consumer_pos = 0 in
that window sees the ring full and refuses the record (seen: 1-14 records
lost per million at 100k/s, with the ring nearly empty).

Ordering: on x86-64 (TSO) plain loads
and stores give the acquire/release the protocol needs.  On arm64 the
kernel's producer uses smp_store_release/smp_load_acquire; Python's memcpy
loads give no such guarantee there, so a reader on arm64 would need a fence
(e.g. an atomic via ctypes) between reading producer_pos and the headers —
this reader targets x86-64, where the machines in CI run.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import select
import time
import traceback
from typing import Callable, Union

from .errors import BpfError
from .maps import BPF_MAP_TYPE_RINGBUF, Map

Buffer = Union[mmap.mmap, bytearray]
BUSY_BIT = 1 << 31
DISCARD_BIT = 1 << 30
HEADER_SIZE = 8
log = logging.getLogger(__name__)


class RingBuffer:
    """Consumer side of one BPF_MAP_TYPE_RINGBUF map."""

    def __init__(self, ring: Map) -> None:
        if ring.type != BPF_MAP_TYPE_RINGBUF:
            raise BpfError("not a ring buffer map", map=ring.name, obj=ring.obj_name)
        self.name = ring.name
        self.fd = ring.fd
        self.size = ring.max_entries
        self.mask = self.size - 1
        page = mmap.PAGESIZE
        try:
            self._consumer = mmap.mmap(self.fd, page, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
            self._producer = mmap.mmap(self.fd, page + self.size, mmap.MAP_SHARED, mmap.PROT_READ, offset=page)
        except OSError as exc:
            raise BpfError("cannot map ring buffer", errno=exc.errno, map=ring.name, obj=ring.obj_name) from exc
        self._view(self._consumer, self._producer, memoryview(self._producer)[page:])
        self.records = 0  # records consumed so far (discarded ones excluded)

    def _view(self, consumer: Buffer, producer: Buffer, data: memoryview) -> None:
        """The typed views drain() reads and writes through: the data, its
        u32 words (headers), and the two positions."""
        self._data = data
        self._headers = data.cast("I")
        self._consumer_pos = memoryview(consumer)[:8].cast("Q")
        self._producer_pos = memoryview(producer)[:8].cast("Q")

    def fileno(self) -> int:
        return self.fd

    def pending_bytes(self) -> int:
        return self._producer_pos[0] - self._consumer_pos[0]

    def drain(self, handle: Callable[[memoryview], None], max_records: int = 1 << 16) -> int:
        """Pass every complete record to ``handle``; returns how many.

        The memoryview is only valid during the call.  Stops at a record still
        being written, or after max_records so one busy ring cannot starve
        the others.
        """
        positions = self._consumer_pos
        consumer = positions[0]
        producer = self._producer_pos[0]
        data, headers, mask, size, count = self._data, self._headers, self.mask, self.size, 0
        while consumer < producer and count < max_records:
            offset = consumer & mask
            header = headers[offset >> 2]
            if header & BUSY_BIT:
                break
            length = header & ~(BUSY_BIT | DISCARD_BIT)
            if not header & DISCARD_BIT:
                start, end = offset + HEADER_SIZE, offset + HEADER_SIZE + length
                if end <= size:
                    record = data[start:end]
                else:  # wraps around the end: the data is mapped once, so copy its two parts
                    record = memoryview(bytes(data[start:]) + bytes(data[: end - size]))
                try:
                    handle(record)
                except BaseException as exc:
                    _forget(exc, record)
                    # consumed, the failing one included: a later drain must not
                    # meet it again (and fail again, e.g. in a final drain)
                    positions[0] = consumer + ((length + HEADER_SIZE + 7) & ~7)
                    raise
                count += 1
            consumer += (length + HEADER_SIZE + 7) & ~7
            if count & 0x3FF == 0:
                positions[0] = consumer  # free space early in long batches
        positions[0] = consumer
        self.records += count
        return count

    def close(self) -> None:
        for view in (self._headers, self._consumer_pos, self._producer_pos, self._data):
            view.release()
        try:
            self._producer.close()
        except BufferError:  # a record's view outlived its handler: unmapped when the view goes
            log.warning("%s: a view of a ring buffer record is still alive; unmapped later", self.name)
        self._consumer.close()


def _forget(exc: BaseException, record: memoryview) -> None:
    """A handler raised: its traceback holds the frames below with their
    locals (the record, slices of it).  Clear them and release the record,
    else the mapping cannot be closed while the error unwinds, and a
    BufferError would replace the real error."""
    seen: set[int] = set()
    chained: BaseException | None = exc
    while chained is not None and id(chained) not in seen:
        seen.add(id(chained))
        traceback.clear_frames(chained.__traceback__)
        chained = chained.__cause__ or chained.__context__
    with contextlib.suppress(BufferError):
        record.release()


class RingPoller:
    """Waits on several ring buffers at once (epoll on their map fds).

    By default the kernel wakes a reader for each record submitted after it
    caught up, so a reader that drains at once wakes once per record.  After
    a wakeup we wait ``batch_delay`` seconds before draining: events then
    arrive in batches, at the cost of that much latency.  Eunomia's programs
    commit without waking (common.h, targ_wakeup_bytes) unless a ring fills:
    their reader drains on its own clock, every poll's timeout, and needs no
    delay (``batch_delay=0``).  Draining a few records at a time costs far
    more per record than a batch: the interpreter's caches are cold after
    every sleep.
    """

    def __init__(self, rings: list[RingBuffer], batch_delay: float = 0.005) -> None:
        self.rings = rings
        self.batch_delay = batch_delay
        self._epoll = select.epoll()
        for ring in rings:
            # edge-triggered: level-triggered epoll re-checks a ring it reported
            # and finds it ready while any record waits, also one committed
            # without a wakeup; the pump would then spin instead of waiting.
            # Every poll drains every ring, so no edge is missed.
            self._epoll.register(ring.fd, select.EPOLLIN | select.EPOLLET)

    def poll(self, handlers: list[Callable[[memoryview], None]], timeout: float,
             before_drain: Callable[[int], None] | None = None) -> int:
        """Wait up to ``timeout`` seconds, then drain every ring into its
        handler (same order as the rings); returns records read.
        before_drain is told how many rings have records waiting."""
        ready = self._epoll.poll(timeout)
        if ready and self.batch_delay > 0:
            time.sleep(self.batch_delay)
        if before_drain is not None:
            before_drain(sum(1 for ring in self.rings if ring.pending_bytes()))
        # Drain all rings, not only the ready ones: wakeups are only sent
        # when a reader had caught up, so a partly drained ring stays silent.
        return sum(ring.drain(handle) for ring, handle in zip(self.rings, handlers))

    def close(self) -> None:
        self._epoll.close()
