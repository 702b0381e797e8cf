"""Memories and channels of the simulated chip: bandwidth channels and on-chip ring buffers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field



class BandwidthChannel:
    """A first-come first-served pipe of fixed bandwidth (DRAM, the interconnect).

    A transfer reserves the next free interval of the pipe at once and reports
    when it ends, so a transfer costs O(1) and needs a single timeout event.
    DRAM transfers are interleaved across its channels, so the channels act as
    one pipe of the total bandwidth; ``latency`` is added to every transfer.
    """

    def __init__(self, bytes_per_cycle: float, latency: int = 0, record: bool = True) -> None:
        self.bytes_per_cycle = bytes_per_cycle
        self.latency = latency
        self.free_at = 0.0
        self.busy_cycles = 0.0
        self.total_bytes = 0
        #: whether to keep ``transfers`` (only DRAM's are traced and plotted)
        self.record = record
        #: start cycle, end cycle and bytes of every transfer, flat (three entries each: one list extend per
        #: transfer, one array conversion for traces and bandwidth plots)
        self.transfers: list[float] = []

    def reserve(self, now: float, nbytes: int) -> float:
        """Queue ``nbytes``; return the cycle at which they have arrived."""
        if nbytes <= 0:
            return now
        free = self.free_at
        start = free if free > now else now
        cycles = int(math.ceil(nbytes / self.bytes_per_cycle))  # transfer_cycles, inlined (nbytes > 0)
        self.free_at = start + cycles
        self.busy_cycles += cycles
        self.total_bytes += nbytes
        if self.record:
            self.transfers += (start, self.free_at, nbytes)
        return self.free_at + self.latency


@dataclass
class RingBuffer:
    """A bounded on-chip buffer between a producer node and its consumers.

    Flow control is by credit, as in dataflow hardware: a producer block is
    issued only when it can reserve room for its output band (otherwise the
    producer is stalled: backpressure), writes the band when it finishes, and
    the band's bytes leave when every consumer block that reads it is done.
    """

    tensor: str
    capacity: int
    #: bytes written and not yet freed
    level: int = 0
    #: bytes promised to producer blocks that are running
    reserved: int = 0
    high_water: int = 0
    #: (cycle, level in bytes) after every change, for occupancy counters
    levels: list[tuple[float, int]] = field(default_factory=list)

    def can_reserve(self, nbytes: int) -> bool:
        return self.level + self.reserved + nbytes <= self.capacity

    def reserve(self, nbytes: int) -> None:
        self.reserved += nbytes

    def commit(self, nbytes: int, now: float) -> None:
        """A reserved band has been written."""
        self.reserved -= nbytes
        self.level += nbytes
        self.levels.append((now, self.level))
        if self.level > self.high_water:
            self.high_water = self.level

    def free(self, nbytes: int, now: float) -> None:
        self.level -= nbytes
        self.levels.append((now, self.level))
