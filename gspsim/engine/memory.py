"""Memories and channels of the simulated chip: bandwidth channels and on-chip ring buffers."""

from __future__ import annotations

from dataclasses import dataclass, field

import simpy

from .cost_model import transfer_cycles


class BandwidthChannel:
    """A first-come first-served pipe of fixed bandwidth (DRAM, the interconnect).

    A transfer reserves the next free interval of the pipe at once and reports
    when it ends, so a transfer costs O(1) and needs a single timeout event.
    DRAM transfers are interleaved across its channels, so the channels act as
    one pipe of the total bandwidth; ``latency`` is added to every transfer.
    """

    def __init__(self, bytes_per_cycle: float, latency: int = 0) -> None:
        self.bytes_per_cycle = bytes_per_cycle
        self.latency = latency
        self.free_at = 0.0
        self.busy_cycles = 0.0
        self.total_bytes = 0
        #: (start cycle, end cycle, bytes) of every transfer, for traces and bandwidth plots
        self.transfers: list[tuple[float, float, int]] = []

    def reserve(self, now: float, nbytes: int) -> float:
        """Queue ``nbytes``; return the cycle at which they have arrived."""
        if nbytes <= 0:
            return now
        start = max(now, self.free_at)
        cycles = transfer_cycles(nbytes, self.bytes_per_cycle)
        self.free_at = start + cycles
        self.busy_cycles += cycles
        self.total_bytes += nbytes
        self.transfers.append((start, self.free_at, nbytes))
        return self.free_at + self.latency


@dataclass
class RingBuffer:
    """A bounded on-chip buffer between a producer node and its consumers.

    The producer puts each block's bytes before it may finish (waiting when the
    buffer is full: backpressure); the bytes leave when every consumer block
    that reads that producer block is done.
    """

    env: simpy.Environment
    tensor: str
    capacity: int
    store: simpy.Container
    high_water: int = 0
    #: (cycle, level in bytes) after every change, for occupancy counters
    levels: list[tuple[float, int]] = field(default_factory=list)

    @classmethod
    def create(cls, env: simpy.Environment, tensor: str, capacity: int) -> "RingBuffer":
        return cls(env=env, tensor=tensor, capacity=capacity, store=simpy.Container(env, capacity=capacity, init=0))

    def put(self, nbytes: int) -> simpy.events.Event:
        return self.store.put(nbytes)

    def note_level(self) -> None:
        level = int(self.store.level)
        self.levels.append((float(self.env.now), level))
        if level > self.high_water:
            self.high_water = level

    def free(self, nbytes: int) -> None:
        if nbytes > 0:
            self.store.get(nbytes)
            self.levels.append((float(self.env.now), int(self.store.level)))
