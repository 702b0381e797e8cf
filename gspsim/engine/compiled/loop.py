"""The compiled event loop: the fast engine's rules in Numba, over one model's flat tables.

This is :mod:`gspsim.engine.fast` step for step -- the same wake-ups, the
same scheduler pass a-h, the same parking of tiles refused by a line
buffer, the same readiness snapshots -- with Python objects replaced by
arrays: a tile's key among the ready tiles of its core is ``(rank,
ready cycle, tile)`` (the rank is the scheduler's static priority's place in
their sorted order), per-core queues are heaps of tile ids, and the
dictionaries and lists of the Python engine become arrays indexed by
(job, node), (job, slice) or global band, or linked lists in one pool.
Function names follow the Python engine's methods so that the two can be
read side by side; ``tests/test_engine_equivalence.py`` holds all three
engines to identical records.

Numbering, as in the fast engine: job ``j`` (a frame) owns global tiles
``j * T .. j * T + T - 1`` and global bands ``j * B ..``.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit, types
from numba.experimental import structref
from numba.typed import List

#: kinds of wake-up (gspsim.engine.fast.events)
FRAME, LANDED, INPUTS, COMPUTED, WRITTEN = 0, 1, 2, 3, 4
#: a wake-up's kind and id in one int64 that orders as (kind, id): ids (tiles, loads, jobs) are below 2**58
EVENT_KIND_SHIFT = 58
EVENT_ID_MASK = (1 << EVENT_KIND_SHIFT) - 1
#: placement rules of the built-in schedulers (gspsim.scheduling.base.assign_rule)
from ..rules import ARRIVAL_TURNS, EARLIEST_FREE, HOME_UNLESS_SOONER, NODE_INDEX  # noqa: E402
#: how the loop ended
FINISHED, STALLED = 0, 1
#: DRAM kinds (gspsim.engine.program.READ_KINDS / WRITE_KINDS)
READ_WEIGHTS, READ_SPILL = 0, 3
WRITE_SPILL = 2

_INT_LIST = types.ListType(types.int64)

# integer scalars of the run, in ``s.i``
(I_DONE, I_VERSION, I_LAYER_VERSION, I_WEIGHTS_VERSION, I_STACKS_VERSION, I_SEEN0, I_SEEN1, I_SEEN2,
 I_SHARED0, I_SHARED1, I_SHARED2, I_LAYER_JOB, I_LAYER_NODE, I_WALKING, I_POSITION, I_W_LEVEL, I_W_BUSY,
 I_W_ARRIVALS, I_W_STACKS_SEEN, I_W_WAITED_LEVEL, I_W_WAITED_BUSY, I_W_WAITED_ARRIVALS, I_W_WAITED_CHANGES,
 I_CAND_LEN, I_ASIDE_LEN, I_S_CHANGES, I_FRONT, I_S_LEVEL, I_S_WAITED_LEVEL, I_S_WAITED_HEAD, I_S_QHEAD,
 I_BUFFER_HIGH, I_DIRTY, I_EVENTS, I_TURN, I_N_LEVELS, I_N_TRANSFERS, I_SCALARS) = range(38)
#: rows of ``s.bag``: what the wake-ups report to the next pass, and the scheduler pass's scratch lists
SOON, ARRIVED_NOW, LOADED_NOW, INPUTS_IN, COMPUTED_NOW, WRITTEN_NOW, PASSED, MOVED, BAGS = range(9)

MODEL_FIELDS = (
    "T", "B", "N", "NS", "cycles", "node", "band", "band_index", "index", "weight_bytes", "home_core",
    "previous", "staging_bytes", "staging_reuse", "dram_write_bytes", "dram_write_kind", "slice_id", "write_ptr",
    "write_ring", "write_bytes", "read_ptr", "read_id", "entry_ptr", "entry_tile", "entry_share",
    "entry_reused", "stream_ptr", "stream_id", "row_ptr", "row_bytes", "row_kind", "band_tile_ptr",
    "band_tile", "band_deps", "band_node", "consumer_ptr", "consumer", "release_ptr", "release", "run_ptr",
    "run_slice", "run_first", "run_end", "roots", "nbands", "stack_of", "holds", "has_weights",
    "ring_capacity", "ring_band_ptr", "ring_band_bytes", "ring_band_readers", "ring_band_ring",
    "ring_band_band", "stack_bytes", "stack_bands", "rank",
)

PARAMS_FIELDS = (
    "job_frame", "frame_job", "job_release", "resident", "layer_mode", "rule", "cores", "slots", "execute",
    "dram_bytes_per_cycle", "dram_latency", "onchip_bytes_per_cycle", "weight_capacity", "dma_engines",
    "buffer_capacity", "q_job", "q_node", "q_bytes", "q_slice",
    # the queue's runs (gspsim.engine.memory.WeightQueue): first entry, end, job (-1: resident), stack; and each
    # job's runs (CSR)
    "run_start", "run_end", "run_job", "run_stack", "job_run_ptr", "job_runs",
)

STATE_FIELDS = (
    "i", "now",
    # events: a binary heap over (cycle, kind, id), the kind and id as one order key (kind << EVENT_KIND_SHIFT | id)
    "ev_time", "ev_order",
    # per global tile
    "core_of", "issue", "compute", "end", "dram_b", "onchip_b", "local_b", "ready", "rank",
    # per core
    "slots_used", "unit_busy", "alu_free", "pending", "queued", "stall_since", "touched", "parked_count",
    # per core: a heap of ready tiles (row ``core``, ``queue_len[core]`` long) and of tiles waiting for its unit
    "queue", "queue_len", "unit_waiting", "unit_len",
    # per ring
    "r_level", "r_reserved", "r_next_frame", "r_next_band", "r_high", "r_parked",
    # per global band
    "spilled", "reserved", "deps_left", "band_left", "runs_left", "ready_head", "parked_ring", "parked_first",
    "parked_head", "compute_left",
    # per job, and per job x node / ring band / stack / slice / stream row
    "arrived", "tiles_left", "node_left", "readers_left", "wait_head", "wait_count",
    # per job: the first and last node with a waiting band (the readiness scan looks at no other node)
    "wait_lo", "wait_hi", "job_version", "job_seen",
    "moved_flag", "job_spills", "claimed", "stack_left", "job_held", "job_slices", "slice_left",
    "waiter_head", "loaded_rows", "row_arrival",
    # per stack
    "claims", "open_at", "kept", "in_waiting", "stack_queue", "joiners",
    # per node
    "resident_load", "held_load", "held_count",
    # per weight load started
    "load_job", "load_stored", "load_landed", "load_slice",
    # a pool of linked-list entries (next, a, b), with its free entries
    "pool_next", "pool_a", "pool_b", "pool_free",
    # short lists of tile, job or load ids (rows SOON ... MOVED), ``bag_len[row]`` long
    "bag", "bag_len",
    # channels: (free_at, busy cycles) of DRAM and of the on-chip channel
    "channel",
    # records
    "stalls", "spills", "spans", "weight_loads", "transfers", "levels", "dram_read", "dram_write", "frame_end",
    "band_order",
    # the weight queue: per run its next entry; a heap of candidate runs and the runs set aside
    # (``i[I_CAND_LEN]``, ``i[I_ASIDE_LEN]`` long); per stack whether it has ever opened
    "run_cursor", "cand", "aside", "opened",
    # per job: the first stack with bands it has yet to enter (the only one it may ask for); bands left in all its
    # stacks (every job before ``i[I_FRONT]`` is done)
    "next_stack", "job_bands_left",
)

#: what Python hands to :func:`run_loop`: a model's tables and a run's parameters, in field order
ModelTables = namedtuple("ModelTables", MODEL_FIELDS)
RunParams = namedtuple("RunParams", PARAMS_FIELDS)


class _Fields(types.StructRef):
    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(typ)) for name, typ in fields)


# Inside the loop the model, the parameters and the state are Numba structrefs: passed as one pointer, where a
# tuple of a hundred arrays would be passed field by field to every function (minutes of compiling)
@structref.register
class ModelType(_Fields):
    pass


@structref.register
class ParamsType(_Fields):
    pass


@structref.register
class StateType(_Fields):
    pass


class Model(structref.StructRefProxy):
    pass


class Params(structref.StructRefProxy):
    pass


class State(structref.StructRefProxy):
    pass


structref.define_proxy(Model, ModelType, MODEL_FIELDS)
structref.define_proxy(Params, ParamsType, PARAMS_FIELDS)
structref.define_proxy(State, StateType, STATE_FIELDS)


# Reference counts. Numba takes and drops a reference count, an atomic operation, on every array or structref a
# function binds: its structref arguments, and each field it reads (``s.queue``). Its refprune pass removes a
# pair only when it can see both ends, in one function, with the drop after the take on every path. So the small
# helpers the loop calls per tile are ``inline="always"`` (Numba inlines their IR: the caller's pass sees them),
# a field read in a hot path is best a temporary (``s.bag[row, k]``) rather than a local that lives across a
# branch, and a helper avoids a branch around the whole of its work (``heap_pop``).


# --- keys and heaps ------------------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def before(rank, ready, a, b):
    """Whether tile ``a``'s key comes before tile ``b``'s: (priority rank, ready cycle, tile)."""
    if rank[a] != rank[b]:
        return rank[a] < rank[b]
    if ready[a] != ready[b]:
        return ready[a] < ready[b]
    return a < b


@njit(cache=True)
def _wider(table):
    """``table`` with twice the columns (its rows keep their entries)."""
    out = np.empty((table.shape[0], max(4, 2 * table.shape[1])), dtype=table.dtype)
    out[:, :table.shape[1]] = table
    return out


@njit(cache=True)
def _longer(values, need):
    """``values`` with room for at least ``need`` entries."""
    out = np.empty(max(need, 2 * len(values)), dtype=values.dtype)
    out[:len(values)] = values
    return out


@njit(cache=True, inline="always")
def heap_push(rank, ready, heap, lens, row, g):
    """Push tile ``g`` on row ``row`` of a table of heaps (the row has room)."""
    i = lens[row]
    lens[row] = i + 1
    while i > 0:
        parent = (i - 1) >> 1
        if not before(rank, ready, g, heap[row, parent]):
            break
        heap[row, i] = heap[row, parent]
        i = parent
    heap[row, i] = g


@njit(cache=True, inline="always")
def heap_pop(rank, ready, heap, lens, row):
    """Remove and return the first tile of row ``row`` of a table of heaps."""
    top = heap[row, 0]
    n = lens[row] - 1
    lens[row] = n
    last = heap[row, n]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and before(rank, ready, heap[row, c + 1], heap[row, c]):
            c += 1
        if not before(rank, ready, heap[row, c], last):
            break
        heap[row, i] = heap[row, c]
        i = c
    heap[row, i] = last  # (with n == 0, the top back in its place)
    return top


@njit(cache=True, inline="always")
def queue_push(m, s, core, g):
    """Tile ``g`` joins ``core``'s queue of ready tiles."""
    if s.queue_len[core] == s.queue.shape[1]:
        s.queue = _wider(s.queue)
    heap_push(s.rank, s.ready, s.queue, s.queue_len, core, g)


@njit(cache=True, inline="always")
def unit_push(m, s, core, g):
    """Tile ``g`` waits for ``core``'s compute unit."""
    if s.unit_len[core] == s.unit_waiting.shape[1]:
        s.unit_waiting = _wider(s.unit_waiting)
    heap_push(s.rank, s.ready, s.unit_waiting, s.unit_len, core, g)


@njit(cache=True, inline="always")
def bag_push(s, row, value):
    n = s.bag_len[row]
    if n == s.bag.shape[1]:
        s.bag = _wider(s.bag)
    s.bag[row, n] = value
    s.bag_len[row] = n + 1


@njit(cache=True, inline="always")
def bag_take(s, row):
    """The row's entries (a copy) in the order they came; the row is emptied."""
    out = s.bag[row, :s.bag_len[row]].copy()
    s.bag_len[row] = 0
    return out


@njit(cache=True, inline="always")
def bag_take_sorted(s, row):
    """The row's entries in ascending order; the row is emptied."""
    out = bag_take(s, row)
    out.sort()
    return out


@njit(cache=True, inline="always")
def bag_drain(s, row):
    """Empty the row; how many entries it had, in the order they came.

    They stay readable as ``s.bag[row, k]`` (``k`` below that count) until the next push to the row: the passes
    read a row in place rather than take a copy (an array allocated, and its reference counts, every pass).
    """
    n = s.bag_len[row]
    s.bag_len[row] = 0
    return n


@njit(cache=True, inline="always")
def bag_drain_sorted(s, row):
    """:func:`bag_drain`, the entries first sorted ascending in place (a short row by insertion, without a call)."""
    n = s.bag_len[row]
    s.bag_len[row] = 0
    if n > 16:
        s.bag[row, :n].sort()
        return n
    for k in range(1, n):
        value = s.bag[row, k]
        i = k
        while i > 0 and s.bag[row, i - 1] > value:
            s.bag[row, i] = s.bag[row, i - 1]
            i -= 1
        s.bag[row, i] = value
    return n


@njit(cache=True, inline="always")
def bag_drain_by_key(s, row):
    """:func:`bag_drain`, the tiles first put in key order in place (insertion sort: the lists of one pass are short)."""
    n = s.bag_len[row]
    s.bag_len[row] = 0
    for k in range(1, n):
        g = s.bag[row, k]
        i = k
        while i > 0 and before(s.rank, s.ready, g, s.bag[row, i - 1]):
            s.bag[row, i] = s.bag[row, i - 1]
            i -= 1
        s.bag[row, i] = g
    return n


@njit(cache=True, inline="always")
def _event_before(time_a, order_a, time_b, order_b):
    """Whether wake-up a (its cycle and order key) comes before wake-up b."""
    return (time_a < time_b) | ((time_a == time_b) & (order_a < order_b))  # (no branch to mispredict)


@njit(cache=True, inline="always")
def event_at(s, when, kind, ident):
    """Wake ``ident`` at cycle ``when`` with ``kind`` (gspsim.engine.fast.events.EventQueue.at)."""
    key = (kind << EVENT_KIND_SHIFT) | ident
    i = s.i[I_EVENTS]
    s.i[I_EVENTS] = i + 1
    while i > 0:
        parent = (i - 1) >> 1
        time_p, order_p = s.ev_time[parent], s.ev_order[parent]
        if not _event_before(when, key, time_p, order_p):
            break
        s.ev_time[i], s.ev_order[i] = time_p, order_p
        i = parent
    s.ev_time[i], s.ev_order[i] = when, key


@njit(cache=True, inline="always")
def event_pop(s):
    """Remove the first wake-up (its fields are read from index 0 before): the last fills the hole, moving down."""
    n = s.i[I_EVENTS] - 1
    s.i[I_EVENTS] = n
    when, key = s.ev_time[n], s.ev_order[n]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n:  # the earlier child, chosen without a branch
            c += _event_before(s.ev_time[c + 1], s.ev_order[c + 1], s.ev_time[c], s.ev_order[c])
        time_c, order_c = s.ev_time[c], s.ev_order[c]
        if _event_before(when, key, time_c, order_c):
            break
        s.ev_time[i], s.ev_order[i] = time_c, order_c
        i = c
    s.ev_time[i], s.ev_order[i] = when, key


# --- linked lists in one pool -------------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def pool_add(s, head, a, b):
    """A new entry (a, b) in front of the list starting at ``head``; the new head."""
    if len(s.pool_free):
        e = s.pool_free.pop()
        s.pool_next[e], s.pool_a[e], s.pool_b[e] = head, a, b
    else:
        e = len(s.pool_next)
        s.pool_next.append(head)
        s.pool_a.append(a)
        s.pool_b.append(b)
    return e


@njit(cache=True)
def pool_release(s, head):
    """Return a whole list's entries to the pool."""
    while head >= 0:
        nxt = s.pool_next[head]
        s.pool_free.append(head)
        head = nxt


# --- channels (gspsim.engine.memory.BandwidthChannel) ----------------------------------------------------------
@njit(cache=True)
def reserve_channel(p, s, c, now, nbytes):
    """Queue ``nbytes`` on channel ``c`` (0 DRAM, recorded; 1 on-chip); the cycle they have arrived."""
    if nbytes <= 0:
        return now
    free_at = s.channel[c, 0]
    start = free_at if free_at > now else now
    per_cycle = p.dram_bytes_per_cycle if c == 0 else p.onchip_bytes_per_cycle
    cycles = math.ceil(nbytes / per_cycle)
    free_at = start + cycles
    s.channel[c, 0] = free_at
    s.channel[c, 1] += cycles
    if c == 0:
        n = s.i[I_N_TRANSFERS]
        if n + 3 > len(s.transfers):
            s.transfers = _longer(s.transfers, n + 3)
        s.transfers[n], s.transfers[n + 1], s.transfers[n + 2] = start, free_at, nbytes
        s.i[I_N_TRANSFERS] = n + 3
        return free_at + p.dram_latency
    return free_at


# --- line buffers (gspsim.engine.memory.LineBuffer) ------------------------------------------------------------
@njit(cache=True, inline="always")
def can_reserve(m, s, r, frame, band):
    return frame == s.r_next_frame[r] and band == s.r_next_band[r] and \
        s.r_level[r] + s.r_reserved[r] + m.ring_band_bytes[m.ring_band_ptr[r] + band] <= m.ring_capacity[r]


@njit(cache=True, inline="always")
def skip_band(m, s, r, frame, band):
    if band + 1 < m.ring_band_ptr[r + 1] - m.ring_band_ptr[r]:
        s.r_next_band[r] = band + 1
    else:
        s.r_next_frame[r] = frame + 1
        s.r_next_band[r] = 0


@njit(cache=True, inline="always")
def record_level(s, r, now):
    """A line buffer's level changed: (ring, cycle, bytes held)."""
    n = s.i[I_N_LEVELS]
    if n + 3 > len(s.levels):
        s.levels = _longer(s.levels, n + 3)
    s.levels[n], s.levels[n + 1], s.levels[n + 2] = r, now, s.r_level[r]
    s.i[I_N_LEVELS] = n + 3


@njit(cache=True, inline="always")
def commit_band(s, r, nbytes, now):
    s.r_reserved[r] -= nbytes
    s.r_level[r] += nbytes
    record_level(s, r, now)
    if s.r_level[r] > s.r_high[r]:
        s.r_high[r] = s.r_level[r]


# --- dispatch and backpressure (gspsim.engine.fast.dispatch) ----------------------------------------------------
@njit(cache=True)
def refusing_ring(m, p, s, g):
    """The line buffer that refuses tile ``g``'s band, or -1 if it may start (``Dispatcher.reserve(check=True)``)."""
    j, t = g // m.T, g % m.T
    gb = j * m.B + m.band[t]
    if s.spilled[gb] or s.reserved[gb]:
        return -1
    frame, band = p.job_frame[j], m.band_index[t]
    for k in range(m.write_ptr[t], m.write_ptr[t + 1]):
        r = m.write_ring[k]
        if not can_reserve(m, s, r, frame, band):
            return r
    return -1


@njit(cache=True)
def reserve(m, p, s, g):
    """Reserve tile ``g``'s output room if its band has not yet: -1 if it may start, else the refusing buffer."""
    ring = refusing_ring(m, p, s, g)
    if ring >= 0:
        return ring
    j, t = g // m.T, g % m.T
    gb = j * m.B + m.band[t]
    if s.spilled[gb] or s.reserved[gb] or m.write_ptr[t] == m.write_ptr[t + 1]:
        return -1
    frame, band = p.job_frame[j], m.band_index[t]
    for k in range(m.write_ptr[t], m.write_ptr[t + 1]):
        r = m.write_ring[k]
        s.r_reserved[r] += m.ring_band_bytes[m.ring_band_ptr[r] + band]
        skip_band(m, s, r, frame, band)
        changed(m, p, s, r)
    s.reserved[gb] = 1
    return -1


@njit(cache=True)
def park(m, s, ring, g, core):
    gb = (g // m.T) * m.B + m.band[g % m.T]
    if s.parked_ring[gb] < 0:
        s.parked_ring[gb] = ring
        s.parked_first[gb] = g
        s.r_parked[ring] += 1
    elif s.parked_ring[gb] != ring:
        raise AssertionError("a band parked on two line buffers")
    s.parked_head[gb] = pool_add(s, s.parked_head[gb], core, g)
    s.parked_count[core] += 1


@njit(cache=True)
def changed(m, p, s, ring):
    """A line buffer moved its write pointer or freed room: the band at its pointer comes back if it may pass."""
    if s.r_parked[ring] == 0:
        return
    frame, k = s.r_next_frame[ring], s.r_next_band[ring]
    if frame >= len(p.job_frame):
        return
    gb = p.frame_job[frame] * m.B + m.ring_band_band[m.ring_band_ptr[ring] + k]
    if s.parked_ring[gb] != ring:
        return
    if refusing_ring(m, p, s, s.parked_first[gb]) != ring:
        unpark(m, s, ring, gb)


@njit(cache=True)
def unpark(m, s, ring, gb):
    """Band ``gb``'s tiles parked on ``ring`` go back to their cores' queues."""
    e = s.parked_head[gb]
    s.parked_head[gb] = -1
    s.parked_ring[gb] = -1
    s.r_parked[ring] -= 1
    walking = s.i[I_WALKING]
    position = s.i[I_POSITION]
    while e >= 0:
        core, g = s.pool_a[e], s.pool_b[e]
        s.parked_count[core] -= 1
        if core == walking and before(s.rank, s.ready, g, position):
            bag_push(s, PASSED, g)
        else:
            queue_push(m, s, core, g)
            s.touched[core] = 1
        nxt = s.pool_next[e]
        s.pool_free.append(e)
        e = nxt


@njit(cache=True)
def free_ring_band(m, p, s, r, k, now):
    """Every reader is done with band ``k`` of line buffer ``r``."""
    s.r_level[r] -= m.ring_band_bytes[m.ring_band_ptr[r] + k]
    record_level(s, r, now)
    changed(m, p, s, r)


@njit(cache=True)
def stall(s, core, stalled, now):
    since = s.stall_since[core]
    if stalled and np.isnan(since):
        s.stall_since[core] = now
    elif not stalled and not np.isnan(since):
        s.stalls.append(float(core))
        s.stalls.append(since)
        s.stalls.append(now)
        s.stall_since[core] = np.nan


@njit(cache=True)
def dispatch(m, p, s, now):
    """Walk every touched core's queue in core order, starting what may start (``Dispatcher.dispatch``)."""
    slots = p.slots
    for core in range(p.cores):
        if not s.touched[core]:
            continue
        s.touched[core] = 0
        if s.queue_len[core] and s.slots_used[core] < slots:
            s.i[I_WALKING] = core
            s.bag_len[PASSED] = 0
            while s.queue_len[core] and s.slots_used[core] < slots:
                g = heap_pop(s.rank, s.ready, s.queue, s.queue_len, core)
                s.i[I_POSITION] = g
                ring = reserve(m, p, s, g)
                if ring >= 0:
                    park(m, s, ring, g, core)
                    continue
                issue_tile(m, p, s, g, core, now)
            s.i[I_WALKING] = -1
            passed = bag_drain(s, PASSED)
            for k in range(passed):
                queue_push(m, s, core, s.bag[PASSED, k])
            s.touched[core] = 1 if passed else 0
            stalled = s.slots_used[core] < slots and (passed > 0 or s.parked_count[core] > 0)
        else:
            stalled = s.slots_used[core] < slots and s.parked_count[core] > 0
        if stalled != (not np.isnan(s.stall_since[core])):
            stall(s, core, stalled, now)


# --- traffic (gspsim.engine.fast.traffic) ----------------------------------------------------------------------
@njit(cache=True)
def band_load(m, p, s, j, stream, k, now, g):
    """Arrival of the DRAM rows band ``k`` needs of ``stream``, loading earlier bands' rows first."""
    rows = m.row_ptr[stream]
    base = j * len(m.row_bytes) + rows
    count = s.loaded_rows[j * (len(m.row_ptr) - 1) + stream]
    while count <= k:
        nbytes = m.row_bytes[rows + count]
        arrive = reserve_channel(p, s, 0, now, nbytes) if nbytes else now
        if nbytes:
            s.dram_read[m.row_kind[rows + count]] += nbytes
            s.dram_b[g] += nbytes
        if count and s.row_arrival[base + count - 1] > arrive:
            arrive = s.row_arrival[base + count - 1]
        s.row_arrival[base + count] = arrive
        count += 1
    s.loaded_rows[j * (len(m.row_ptr) - 1) + stream] = count
    return s.row_arrival[base + k]


@njit(cache=True)
def traffic_issue(m, p, s, j, t, g, core, now):
    """Queue tile ``g``'s input transfers on ``core`` at ``now``; the cycle they have all arrived."""
    base = j * m.T
    arrive = now
    for k in range(m.stream_ptr[t], m.stream_ptr[t + 1]):
        at = band_load(m, p, s, j, m.stream_id[k], m.band_index[t], now, g)
        if at > arrive:
            arrive = at
    prev = m.previous[t]
    follows = prev >= 0 and s.core_of[base + prev] == core
    local = m.staging_reuse[t] if follows else 0
    onchip = m.staging_bytes[t] - local
    dram = 0
    spills = s.job_spills[j]
    band_base = j * m.B
    for k in range(m.read_ptr[t], m.read_ptr[t + 1]):
        read = m.read_id[k]
        for e in range(m.entry_ptr[read], m.entry_ptr[read + 1]):
            producer = m.entry_tile[e]
            share = m.entry_share[e]
            if s.core_of[base + producer] == core:
                mine = share
            elif follows:
                mine = m.entry_reused[e]
            else:
                mine = 0
            local += mine
            if spills and s.spilled[band_base + m.band[producer]]:
                dram += share - mine
            else:
                onchip += share - mine
    if dram:
        s.dram_read[READ_SPILL] += dram
        at = reserve_channel(p, s, 0, now, dram)
        if at > arrive:
            arrive = at
    if m.home_core[t] == core:
        local += m.weight_bytes[t]
    else:
        onchip += m.weight_bytes[t]
    at = reserve_channel(p, s, 1, now, onchip)
    if at > arrive:
        arrive = at
    s.dram_b[g] += dram
    s.onchip_b[g] += onchip
    s.local_b[g] += local
    return arrive


@njit(cache=True)
def traffic_send(m, p, s, j, t, g, now):
    """Send computed tile ``g``'s outputs at ``now``; the cycle they are written."""
    gb = j * m.B + m.band[t]
    if p.execute:
        s.compute_left[gb] -= 1
        if s.compute_left[gb] == 0:
            s.band_order.append(gb)
    dram = m.dram_write_bytes[t]
    if dram:
        s.dram_write[m.dram_write_kind[t]] += dram
    onchip = 0
    for k in range(m.write_ptr[t], m.write_ptr[t + 1]):
        nbytes = m.write_bytes[k]
        if s.spilled[gb]:
            dram += nbytes
            s.dram_write[WRITE_SPILL] += nbytes
        else:
            commit_band(s, m.write_ring[k], nbytes, now)
            onchip += nbytes
    end = reserve_channel(p, s, 0, now, dram)
    written = reserve_channel(p, s, 1, now, onchip)
    s.dram_b[g] += dram
    s.onchip_b[g] += onchip
    return written if written > end else end


# --- cores (gspsim.engine.fast.cores) ----------------------------------------------------------------------------
@njit(cache=True)
def earliest_free(p, s, now):
    best, best_at = 0, 0.0
    for c in range(p.cores):
        a = s.alu_free[c]
        at = (a if a > now else now) + s.pending[c] + s.queued[c]
        if c == 0 or at < best_at:
            best, best_at = c, at
    return best


@njit(cache=True)
def core_load(s, c, now):
    a = s.alu_free[c]
    return (a if a > now else now) + s.pending[c] + s.queued[c]


@njit(cache=True, inline="always")
def start_compute(m, s, g, core, now):
    cycles = m.cycles[g % m.T]
    s.compute[g] = now
    s.alu_free[core] = now + cycles
    s.pending[core] -= cycles
    event_at(s, now + cycles, COMPUTED, g)


@njit(cache=True)
def issue_tile(m, p, s, g, core, now):
    """Start tile ``g`` on ``core``: a thread slot, and every input transfer queued now."""
    j, t = g // m.T, g % m.T
    cycles = m.cycles[t]
    s.slots_used[core] += 1
    s.queued[core] -= cycles
    s.pending[core] += cycles
    s.core_of[g] = core
    s.issue[g] = now
    arrive = traffic_issue(m, p, s, j, t, g, core, now)
    if arrive > now:
        event_at(s, now + (arrive - now), INPUTS, g)
    else:
        bag_push(s, SOON, g)


# --- weights (gspsim.engine.fast.weights) -------------------------------------------------------------------------
@njit(cache=True)
def reopens(m, s, j, st):
    """Whether job ``j`` must open again a stack up to ``st`` (gspsim.engine.memory.reopens)."""
    S = len(m.stack_bytes)
    for x in range(st + 1):
        if s.opened[x] and s.claims[x] == 0 and not s.kept[x] and s.stack_left[j * S + x] > 0 \
                and not s.claimed[j * S + x]:
            return True
    return False


@njit(cache=True)
def is_front(s, j):
    """Whether job ``j`` is the front frame: every frame before it is done."""
    while s.i[I_FRONT] < len(s.job_bands_left) and s.job_bands_left[s.i[I_FRONT]] == 0:
        s.i[I_FRONT] += 1
    return j <= s.i[I_FRONT]


@njit(cache=True)
def waits_to_reopen(m, p, s, j, st):
    """Whether job ``j``'s weight loads for stack ``st`` wait: it is behind and reopens (never in layer mode)."""
    return not p.layer_mode and not is_front(s, j) and reopens(m, s, j, st)


@njit(cache=True, inline="always")
def cand_push(s, r):
    """Run ``r`` joins the candidates (a binary min-heap of run ids)."""
    heap = s.cand
    k = s.i[I_CAND_LEN]
    s.i[I_CAND_LEN] += 1
    heap[k] = r
    while k > 0:
        up = (k - 1) // 2
        if heap[up] <= heap[k]:
            break
        heap[up], heap[k] = heap[k], heap[up]
        k = up


@njit(cache=True, inline="always")
def cand_pop(s):
    """The first candidate run, out of the heap."""
    heap = s.cand
    top = heap[0]
    n = s.i[I_CAND_LEN] - 1
    s.i[I_CAND_LEN] = n
    heap[0] = heap[n]
    k = 0
    while True:
        a, b, low = 2 * k + 1, 2 * k + 2, k
        if a < n and heap[a] < heap[low]:
            low = a
        if b < n and heap[b] < heap[low]:
            low = b
        if low == k:
            break
        heap[low], heap[k] = heap[k], heap[low]
        k = low
    return top


@njit(cache=True)
def queue_arrive(p, s, j):
    """Frame ``j`` arrived: its runs join the candidates (WeightMemory.arrive)."""
    for k in range(p.job_run_ptr[j], p.job_run_ptr[j + 1]):
        cand_push(s, p.job_runs[k])
    s.i[I_W_ARRIVALS] += 1


@njit(cache=True)
def queue_head(m, p, s):
    """The entry the DMA engines take next, or -1 (WeightQueue.head)."""
    while s.i[I_CAND_LEN] > 0:
        r = s.cand[0]
        if s.run_cursor[r] == p.run_end[r]:
            cand_pop(s)
            continue
        job = p.run_job[r]
        if job >= 0 and waits_to_reopen(m, p, s, job, p.run_stack[r]):
            s.aside[s.i[I_ASIDE_LEN]] = cand_pop(s)
            s.i[I_ASIDE_LEN] += 1
            continue
        return s.run_cursor[r]
    return -1


@njit(cache=True, inline="always")
def loads_may_start(i):
    """Whether anything :func:`start_loads` waited on has moved since it last ran."""
    return not (i[I_W_WAITED_LEVEL] == i[I_W_LEVEL] and i[I_W_WAITED_BUSY] == i[I_W_BUSY]
                and i[I_W_WAITED_ARRIVALS] == i[I_W_ARRIVALS] and i[I_W_WAITED_CHANGES] == i[I_S_CHANGES])


@njit(cache=True)
def start_loads(m, p, s, now):
    """Start loads in DMA order while an engine is free and the next one fits (head of line)."""
    if not loads_may_start(s.i):
        return
    if s.i[I_S_CHANGES] != s.i[I_W_STACKS_SEEN]:  # the runs set aside are candidates again
        for k in range(s.i[I_ASIDE_LEN]):
            cand_push(s, s.aside[k])
        s.i[I_ASIDE_LEN] = 0
        s.i[I_W_STACKS_SEEN] = s.i[I_S_CHANGES]
    capacity = p.weight_capacity
    while s.i[I_W_BUSY] < p.dma_engines:
        head = queue_head(m, p, s)
        if head < 0:
            break
        job, node, nbytes = p.q_job[head], p.q_node[head], p.q_bytes[head]
        holds = m.holds[node]
        if job >= 0 and holds and s.held_load[node] >= 0:  # on chip for an earlier frame: share it
            s.held_count[node] += 1
            s.job_held[job * m.N + node] = s.held_load[node]
            s.run_cursor[s.cand[0]] += 1
            s.i[I_WEIGHTS_VERSION] += 1
            continue
        stored = nbytes if nbytes < capacity else capacity
        if stored > capacity - s.i[I_W_LEVEL]:
            break
        s.run_cursor[s.cand[0]] += 1
        s.i[I_WEIGHTS_VERSION] += 1
        load = len(s.load_job)
        s.load_job.append(job)
        s.load_stored.append(stored)
        s.load_landed.append(0)
        key = -1
        if job < 0:
            s.resident_load[node] = load
        elif holds:
            s.held_load[node] = load
            s.held_count[node] = 1
            s.job_held[job * m.N + node] = load
        else:
            key = p.q_slice[head]
            s.job_slices[job * m.NS + key] = load
        s.load_slice.append(key)
        s.i[I_W_LEVEL] += stored
        s.i[I_W_BUSY] += 1
        end = reserve_channel(p, s, 0, now, nbytes)
        s.dram_read[READ_WEIGHTS] += nbytes
        s.weight_loads.append(now)
        s.weight_loads.append(end)
        s.weight_loads.append(float(nbytes))
        s.weight_loads.append(float(node))
        event_at(s, now + (end - now), LANDED, load)
    s.i[I_W_WAITED_LEVEL], s.i[I_W_WAITED_BUSY] = s.i[I_W_LEVEL], s.i[I_W_BUSY]
    s.i[I_W_WAITED_ARRIVALS], s.i[I_W_WAITED_CHANGES] = s.i[I_W_ARRIVALS], s.i[I_S_CHANGES]


@njit(cache=True)
def node_ready(m, p, s, j, node):
    """1 when (job, node)'s weights are on chip, 0 when not, -1 when each tile waits for its own slice."""
    if not m.has_weights[node]:
        return 1
    if p.resident:
        load = s.resident_load[node]
    elif m.holds[node]:
        load = s.job_held[j * m.N + node]
    else:
        return -1
    return 1 if load >= 0 and s.load_landed[load] else 0


@njit(cache=True, inline="always")
def slice_ready(m, s, j, key):
    load = s.job_slices[j * m.NS + key]
    return load >= 0 and s.load_landed[load] != 0


# --- stacks (gspsim.engine.fast.stacks) ---------------------------------------------------------------------------
@njit(cache=True)
def next_stack(m, st):
    """The first stack from ``st`` on that has bands."""
    while st < len(m.stack_bands) and m.stack_bands[st] == 0:
        st += 1
    return st


@njit(cache=True)
def enter(m, s, j, st):
    """Job ``j`` enters stack ``st``."""
    s.claims[st] += 1
    s.claimed[j * len(m.stack_bytes) + st] = 1
    s.next_stack[j] = next_stack(m, st + 1)
    s.i[I_STACKS_VERSION] += 1
    s.i[I_S_CHANGES] += 1


@njit(cache=True, inline="always")
def stacks_may_open(i, queue):
    """Whether a stack waits and anything :func:`open_waiting` waited on has moved since it last ran."""
    return not (i[I_S_QHEAD] == len(queue) or (i[I_S_WAITED_LEVEL] == i[I_S_LEVEL]
                                               and i[I_S_WAITED_HEAD] == queue[i[I_S_QHEAD]]))


@njit(cache=True)
def open_waiting(m, p, s, now):
    """Open waiting stacks in order while the head's buffers fit."""
    queue = s.stack_queue
    if not stacks_may_open(s.i, queue):
        return
    while s.i[I_S_QHEAD] < len(queue):
        st = queue[s.i[I_S_QHEAD]]
        nbytes = m.stack_bytes[st]
        if s.claims[st] == 0:
            if s.i[I_S_LEVEL] + nbytes > p.buffer_capacity:
                s.i[I_S_WAITED_LEVEL], s.i[I_S_WAITED_HEAD] = s.i[I_S_LEVEL], st
                return
            s.i[I_S_LEVEL] += nbytes
            if s.i[I_S_LEVEL] > s.i[I_BUFFER_HIGH]:
                s.i[I_BUFFER_HIGH] = s.i[I_S_LEVEL]
            s.open_at[st] = now
            s.opened[st] = 1
        s.i[I_S_QHEAD] += 1
        s.in_waiting[st] = 0
        joiners = s.joiners[st]
        for k in range(len(joiners)):
            enter(m, s, joiners[k], st)
        joiners.clear()


@njit(cache=True)
def open_for(m, p, s, j, st, now):
    """Whether stack ``st`` holds its buffers for job ``j``; if not, ask for it."""
    S = len(m.stack_bytes)
    if s.claimed[j * S + st]:
        return True
    if st != s.next_stack[j]:  # an earlier stack first
        return False
    if s.claims[st] > 0 or s.kept[st]:
        s.kept[st] = 0
        enter(m, s, j, st)
        return True
    if not is_front(s, j) and reopens(m, s, j, st):
        return False  # only the front frame opens a stack again
    joiners = s.joiners[st]
    if not s.in_waiting[st]:
        s.stack_queue.append(st)
        s.in_waiting[st] = 1
        joiners.append(j)
    else:
        present = False
        for k in range(len(joiners)):
            if joiners[k] == j:
                present = True
        if not present:
            joiners.append(j)
    open_waiting(m, p, s, now)
    return s.claimed[j * S + st] != 0


@njit(cache=True)
def bands_done(m, s, j, st, bands, now):
    """A node of stack ``st`` is complete for job ``j``: the stack closes when no frame is inside."""
    S = len(m.stack_bytes)
    s.stack_left[j * S + st] -= bands
    s.job_bands_left[j] -= bands
    if s.job_bands_left[j] == 0:  # a frame is done: the next may be the front frame now
        s.i[I_STACKS_VERSION] += 1
        s.i[I_S_CHANGES] += 1
    if s.stack_left[j * S + st] == 0 and s.claimed[j * S + st]:
        s.claims[st] -= 1
        s.i[I_S_CHANGES] += 1
        if s.claims[st] == 0:
            behind = False
            for k in range(len(s.arrived)):
                if s.arrived[k] and s.stack_left[k * S + st] > 0 and not s.claimed[k * S + st] \
                        and (is_front(s, k) or not reopens(m, s, k, st - 1)):
                    behind = True
                    break
            if behind:
                s.kept[st] = 1
                s.i[I_STACKS_VERSION] += 1
            else:
                s.i[I_S_LEVEL] -= m.stack_bytes[st]
                s.spans.append(float(st))
                s.spans.append(s.open_at[st])
                s.spans.append(now)


@njit(cache=True)
def close_kept(m, s, now):
    """Close every stack kept open for a frame behind."""
    closed = False
    for st in range(len(m.stack_bytes)):
        if s.kept[st]:
            s.kept[st] = 0
            s.i[I_S_LEVEL] -= m.stack_bytes[st]
            s.spans.append(float(st))
            s.spans.append(s.open_at[st])
            s.spans.append(now)
            s.i[I_STACKS_VERSION] += 1
            s.i[I_S_CHANGES] += 1
            closed = True
    return closed


# --- bands (gspsim.engine.fast.bands) -----------------------------------------------------------------------------
@njit(cache=True, inline="always")
def mark_moved(s, j):
    s.i[I_VERSION] += 1
    s.job_version[j] += 1
    if not s.moved_flag[j]:
        s.moved_flag[j] = 1
        bag_push(s, MOVED, j)


@njit(cache=True)
def band_waits(m, p, s, j, b):
    """Band ``b``'s producers are complete and its frame has arrived: it waits to be ready."""
    mark_moved(s, j)
    slot = j * m.N + m.band_node[b]
    if s.wait_head[slot] < 0:
        s.wait_count[j] += 1
        node = m.band_node[b]
        if node < s.wait_lo[j]:
            s.wait_lo[j] = node
        if node > s.wait_hi[j]:
            s.wait_hi[j] = node
    s.wait_head[slot] = pool_add(s, s.wait_head[slot], b, 0)
    first, end = m.run_ptr[b], m.run_ptr[b + 1]
    if first < end and not p.resident:
        gb = j * m.B + b
        ready = 0
        for run in range(first, end):
            key = m.run_slice[run]
            if slice_ready(m, s, j, key):
                s.ready_head[gb] = pool_add(s, s.ready_head[gb], run, 0)
                ready += 1
            else:
                w = j * m.NS + key
                s.waiter_head[w] = pool_add(s, s.waiter_head[w], b, run)
        s.runs_left[gb] = (end - first) - ready


@njit(cache=True)
def slice_landed(m, s, j, key):
    """A weight slice of job ``j`` is on chip: the runs of tiles waiting for it are ready."""
    mark_moved(s, j)
    w = j * m.NS + key
    e = s.waiter_head[w]
    s.waiter_head[w] = -1
    while e >= 0:
        gb = j * m.B + s.pool_a[e]
        s.ready_head[gb] = pool_add(s, s.ready_head[gb], s.pool_b[e], 0)
        s.runs_left[gb] -= 1
        nxt = s.pool_next[e]
        s.pool_free.append(e)
        e = nxt


@njit(cache=True)
def list_values(s, head):
    """The distinct values ``a`` of a linked list, ascending."""
    n = 0
    e = head
    while e >= 0:
        n += 1
        e = s.pool_next[e]
    out = np.empty(n, dtype=np.int64)
    e = head
    for k in range(n):
        out[k] = s.pool_a[e]
        e = s.pool_next[e]
    out.sort()
    if n > 1:
        keep = np.ones(n, dtype=np.bool_)
        keep[1:] = out[1:] != out[:-1]
        out = out[keep]
    return out


@njit(cache=True)
def enqueue(m, p, s, j, g, t, now):
    """Tile ``g`` is ready: its key, and the core the scheduler's rule names."""
    s.ready[g] = now
    rule = p.rule
    if rule == EARLIEST_FREE:
        core = earliest_free(p, s, now)
    elif rule == HOME_UNLESS_SOONER:
        best = earliest_free(p, s, now)
        home = m.home_core[t]
        core = home if core_load(s, home, now) <= core_load(s, best, now) + m.cycles[t] else best
    elif rule == NODE_INDEX:
        core = m.index[t] % p.cores
    else:
        core = s.i[I_TURN] % p.cores
        s.i[I_TURN] += 1
    queue_push(m, s, core, g)
    s.queued[core] += m.cycles[t]
    s.touched[core] = 1


@njit(cache=True, inline="always")
def readiness_moved(i):
    """Whether anything :func:`make_ready` looks at has moved since it last ran."""
    return not (i[I_SEEN0] == i[I_VERSION] and i[I_SEEN1] == i[I_WEIGHTS_VERSION]
                and i[I_SEEN2] == i[I_STACKS_VERSION])


@njit(cache=True)
def make_ready(m, p, s, now):
    """Queue every tile of a waiting band whose stack is open and whose weights are on chip."""
    i = s.i
    if not readiness_moved(i):
        return
    i[I_SEEN0], i[I_SEEN1], i[I_SEEN2] = i[I_VERSION], i[I_WEIGHTS_VERSION], i[I_STACKS_VERSION]
    same_shared = (i[I_SHARED0] == i[I_LAYER_VERSION] and i[I_SHARED1] == i[I_WEIGHTS_VERSION]
                   and i[I_SHARED2] == i[I_STACKS_VERSION])
    if same_shared:
        jobs = bag_take_sorted(s, MOVED)
    else:
        jobs = np.arange(len(p.job_frame))
        s.bag_len[MOVED] = 0
    for k in range(len(jobs)):
        s.moved_flag[jobs[k]] = 0
    if not same_shared:
        s.moved_flag[:] = 0
    i[I_SHARED0], i[I_SHARED1], i[I_SHARED2] = i[I_LAYER_VERSION], i[I_WEIGHTS_VERSION], i[I_STACKS_VERSION]
    for k in range(len(jobs)):
        j = jobs[k]
        if s.wait_count[j] == 0:
            continue
        seen = s.job_seen[j]
        if seen[0] == s.job_version[j] and seen[1] == i[I_LAYER_VERSION] and seen[2] == i[I_WEIGHTS_VERSION] \
                and seen[3] == i[I_STACKS_VERSION]:
            continue
        seen[0], seen[1], seen[2], seen[3] = (s.job_version[j], i[I_LAYER_VERSION], i[I_WEIGHTS_VERSION],
                                              i[I_STACKS_VERSION])
        base_t = j * m.T
        lo, hi = m.N, -1  # the first and last node still waiting after the scan
        for node in range(s.wait_lo[j], s.wait_hi[j] + 1):
            slot = j * m.N + node
            if s.wait_head[slot] < 0:
                continue
            if node < lo:
                lo = node
            hi = node
            if p.layer_mode and (i[I_LAYER_JOB] != j or i[I_LAYER_NODE] != node):
                continue
            if not open_for(m, p, s, j, m.stack_of[node], now):
                continue
            ready = node_ready(m, p, s, j, node)
            if ready == 0:
                continue
            bands = list_values(s, s.wait_head[slot])
            if ready == 1:
                for b in bands:
                    for k2 in range(m.band_tile_ptr[b], m.band_tile_ptr[b + 1]):
                        t = m.band_tile[k2]
                        enqueue(m, p, s, j, base_t + t, t, now)
                pool_release(s, s.wait_head[slot])
                s.wait_head[slot] = -1
                s.wait_count[j] -= 1
                continue
            # weights slice by slice: the runs of tiles whose slice is on chip, in tile order
            pool_release(s, s.wait_head[slot])
            head = -1
            for b in bands:
                gb = j * m.B + b
                if s.ready_head[gb] >= 0:
                    runs = list_values(s, s.ready_head[gb])  # run ids ascend with their first tile
                    for run in runs:
                        for t in range(m.run_first[run], m.run_end[run]):
                            enqueue(m, p, s, j, base_t + t, t, now)
                    pool_release(s, s.ready_head[gb])
                    s.ready_head[gb] = -1
                if s.runs_left[gb]:
                    head = pool_add(s, head, b, 0)
            s.wait_head[slot] = head
            if head < 0:
                s.wait_count[j] -= 1
        # nodes that left: the bounds shrink to the waiting nodes (none: lo > hi)
        while lo <= hi and s.wait_head[j * m.N + lo] < 0:
            lo += 1
        while hi >= lo and s.wait_head[j * m.N + hi] < 0:
            hi -= 1
        s.wait_lo[j], s.wait_hi[j] = lo, hi


# --- completions (gspsim.engine.fast.bands) -----------------------------------------------------------------------
@njit(cache=True)
def complete(m, p, s, g, now):
    """Tile ``g``'s outputs are written."""
    j, t = g // m.T, g % m.T
    s.end[g] = now
    s.i[I_DONE] += 1
    s.tiles_left[j] -= 1
    if s.tiles_left[j] == 0:
        s.frame_end[p.job_frame[j]] = now
    key = m.slice_id[t]
    if key >= 0 and not p.resident:
        slot = j * m.NS + key
        s.slice_left[slot] -= 1
        if s.slice_left[slot] == 0:
            load = s.job_slices[slot]
            s.job_slices[slot] = -1
            if load >= 0:
                s.i[I_W_LEVEL] -= s.load_stored[load]
    b = m.band[t]
    gb = j * m.B + b
    s.band_left[gb] -= 1
    if s.band_left[gb] == 0:
        band_complete(m, p, s, j, b, now)


@njit(cache=True)
def band_complete(m, p, s, j, b, now):
    band_base = j * m.B
    readers = j * len(m.ring_band_readers)
    for k in range(m.release_ptr[b], m.release_ptr[b + 1]):
        rb = m.release[k]
        s.readers_left[readers + rb] -= 1
        if s.readers_left[readers + rb] == 0 and not s.spilled[band_base + m.ring_band_band[rb]]:
            r = m.ring_band_ring[rb]
            free_ring_band(m, p, s, r, rb - m.ring_band_ptr[r], now)
    for k in range(m.consumer_ptr[b], m.consumer_ptr[b + 1]):
        c = m.consumer[k]
        s.deps_left[band_base + c] -= 1
        if s.arrived[j] and s.deps_left[band_base + c] == 0:
            band_waits(m, p, s, j, c)
    node = m.band_node[b]
    s.node_left[j * m.N + node] -= 1
    if s.node_left[j * m.N + node] == 0:
        node_complete(m, p, s, j, node, now)


@njit(cache=True)
def node_complete(m, p, s, j, node, now):
    if m.holds[node] and not p.resident and s.job_held[j * m.N + node] >= 0:
        s.held_count[node] -= 1
        if s.held_count[node] == 0:
            s.i[I_W_LEVEL] -= s.load_stored[s.held_load[node]]
            s.held_load[node] = -1
    bands_done(m, s, j, m.stack_of[node], m.nbands[node], now)
    if p.layer_mode:
        if node + 1 < m.N:
            s.i[I_LAYER_JOB], s.i[I_LAYER_NODE] = j, node + 1
        else:
            s.i[I_LAYER_JOB], s.i[I_LAYER_NODE] = j + 1, 0
        s.i[I_VERSION] += 1
        s.i[I_LAYER_VERSION] += 1


@njit(cache=True)
def arrive(m, p, s, j):
    s.arrived[j] = 1
    queue_arrive(p, s, j)
    for b in m.roots:
        band_waits(m, p, s, j, b)


# --- deadlocks ---------------------------------------------------------------------------------------------------
@njit(cache=True)
def spill_best(m, p, s, now):
    """Spill the band of the best queued tile on a core with a free slot and start it; False if there is none."""
    best, best_core = -1, -1
    for core in range(p.cores):
        if s.slots_used[core] < p.slots and s.queue_len[core] and \
                (best < 0 or before(s.rank, s.ready, s.queue[core, 0], best)):
            best, best_core = s.queue[core, 0], core
    for gb in range(len(s.parked_head)):
        e = s.parked_head[gb]
        while e >= 0:
            core, g = s.pool_a[e], s.pool_b[e]
            if s.slots_used[core] < p.slots and (best < 0 or before(s.rank, s.ready, g, best)):
                best, best_core = g, core
            e = s.pool_next[e]
    if best < 0:
        return False
    core, g = best_core, best
    j, t = g // m.T, g % m.T
    gb = j * m.B + m.band[t]
    if s.queue_len[core] and s.queue[core, 0] == g:
        heap_pop(s.rank, s.ready, s.queue, s.queue_len, core)
    else:  # parked: take it out of its band's list
        prev, e = -1, s.parked_head[gb]
        while e >= 0:
            if s.pool_a[e] == core and s.pool_b[e] == g:
                if prev < 0:
                    s.parked_head[gb] = s.pool_next[e]
                else:
                    s.pool_next[prev] = s.pool_next[e]
                s.pool_free.append(e)
                s.parked_count[core] -= 1
                break
            prev, e = e, s.pool_next[e]
    s.touched[core] = 1
    frame, band = p.job_frame[j], m.band_index[t]
    s.spilled[gb] = 1
    s.job_spills[j] += 1
    if s.parked_ring[gb] >= 0:
        unpark(m, s, s.parked_ring[gb], gb)
    if not s.reserved[gb]:
        for k in range(m.write_ptr[t], m.write_ptr[t + 1]):
            r = m.write_ring[k]
            skip_band(m, s, r, frame, band)
            changed(m, p, s, r)
    s.spills.append(now)
    s.spills.append(float(m.node[t]))
    s.spills.append(float(band))
    s.spills.append(float(frame))
    issue_tile(m, p, s, g, core, now)
    return True


# --- the run (gspsim.engine.fast.run) -------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def inputs_arrived(m, s, g, now):
    if m.cycles[g % m.T]:
        bag_push(s, INPUTS_IN, g)
    else:
        s.compute[g] = now
        bag_push(s, COMPUTED_NOW, g)


@njit(cache=True)
def wake(m, p, s, now):
    """Handle every wake-up due at ``now``: each only reports."""
    s.i[I_DIRTY] = 1
    if s.bag_len[SOON]:
        for k in range(bag_drain(s, SOON)):  # (their order does not matter: what they report is sorted)
            inputs_arrived(m, s, s.bag[SOON, k], now)
    while s.i[I_EVENTS] and s.ev_time[0] == now:
        kind, ident = s.ev_order[0] >> EVENT_KIND_SHIFT, s.ev_order[0] & EVENT_ID_MASK
        event_pop(s)
        if kind == COMPUTED:
            core = s.core_of[ident]
            if s.unit_len[core]:
                start_compute(m, s, heap_pop(s.rank, s.ready, s.unit_waiting, s.unit_len, core), core, now)
            else:
                s.unit_busy[core] = 0
            bag_push(s, COMPUTED_NOW, ident)
        elif kind == WRITTEN:
            core = s.core_of[ident]
            s.slots_used[core] -= 1
            s.touched[core] = 1
            bag_push(s, WRITTEN_NOW, ident)
        elif kind == INPUTS:
            inputs_arrived(m, s, ident, now)
        elif kind == LANDED:
            s.i[I_W_BUSY] -= 1
            s.load_landed[ident] = 1
            s.i[I_WEIGHTS_VERSION] += 1
            bag_push(s, LOADED_NOW, ident)
        else:
            bag_push(s, ARRIVED_NOW, ident)


@njit(cache=True)
def decide(m, p, s, now):
    """The hardware scheduler's pass, steps a-h of the reference engine."""
    if s.bag_len[WRITTEN_NOW]:
        for k in range(bag_drain_sorted(s, WRITTEN_NOW)):
            complete(m, p, s, s.bag[WRITTEN_NOW, k], now)
    if s.bag_len[ARRIVED_NOW]:
        for k in range(bag_drain_sorted(s, ARRIVED_NOW)):
            arrive(m, p, s, s.bag[ARRIVED_NOW, k])
    if s.bag_len[LOADED_NOW]:
        for k in range(bag_drain_sorted(s, LOADED_NOW)):
            load = s.bag[LOADED_NOW, k]
            if s.load_slice[load] >= 0:
                slice_landed(m, s, s.load_job[load], s.load_slice[load])
    # (each call is guarded by its own early-return test: a call passes the model, parameters and state, whose
    # reference counts are atomic operations, and most passes have nothing for most of these steps)
    if loads_may_start(s.i):
        start_loads(m, p, s, now)
    if stacks_may_open(s.i, s.stack_queue):
        open_waiting(m, p, s, now)
    if readiness_moved(s.i):
        make_ready(m, p, s, now)
    if s.touched.any():
        dispatch(m, p, s, now)
    if s.bag_len[COMPUTED_NOW]:
        for k in range(bag_drain_sorted(s, COMPUTED_NOW)):
            g = s.bag[COMPUTED_NOW, k]
            j, t = g // m.T, g % m.T
            end = traffic_send(m, p, s, j, t, g, now)
            if end > now:
                event_at(s, now + (end - now), WRITTEN, g)
            else:
                core = s.core_of[g]
                s.slots_used[core] -= 1
                s.touched[core] = 1
                bag_push(s, WRITTEN_NOW, g)
                s.i[I_DIRTY] = 1
    if s.bag_len[INPUTS_IN]:
        for k in range(bag_drain_by_key(s, INPUTS_IN)):
            g = s.bag[INPUTS_IN, k]
            core = s.core_of[g]
            if s.unit_busy[core]:
                unit_push(m, s, core, g)
            else:
                s.unit_busy[core] = 1
                start_compute(m, s, g, core, now)


@njit(cache=True)
def play(m, p, s):
    """Play out the run; FINISHED, or STALLED when tiles are left and nothing can be spilled."""
    total = len(p.job_frame) * m.T
    for j in range(len(p.job_frame)):
        release = p.job_release[j]
        event_at(s, release if release > 0 else 0.0, FRAME, j)
    now = 0.0
    status = FINISHED
    while True:
        s.now[0] = now
        if s.bag_len[SOON] or (s.i[I_EVENTS] and s.ev_time[0] == now):
            wake(m, p, s, now)
        if s.i[I_DIRTY]:
            s.i[I_DIRTY] = 0
            decide(m, p, s, now)
            if s.i[I_DIRTY] or s.bag_len[SOON] or (s.i[I_EVENTS] and s.ev_time[0] == now):
                continue
        if not s.i[I_EVENTS]:
            if s.i[I_DONE] == total:
                break
            if spill_best(m, p, s, now):
                continue
            if close_kept(m, s, now):
                s.i[I_DIRTY] = 1
                continue
            status = STALLED
            break
        now = s.ev_time[0]
    s.now[0] = now
    return status


# --- state and records -----------------------------------------------------------------------------------------------
@njit(cache=True)
def _floats():
    return List.empty_list(types.float64)


@njit(cache=True)
def _ints():
    return List.empty_list(types.int64)


@njit(cache=True)
def new_state(m, p):
    """The state at cycle 0 (what each part of the fast engine's constructor sets up)."""
    jobs, cores = len(p.job_frame), p.cores
    total, bands = jobs * m.T, jobs * m.B
    S, rings, ring_bands = len(m.stack_bytes), len(m.ring_capacity), len(m.ring_band_readers)
    streams = len(m.row_ptr) - 1
    i = np.zeros(I_SCALARS, dtype=np.int64)
    for k in (I_SEEN0, I_SEEN1, I_SEEN2, I_SHARED0, I_SHARED1, I_SHARED2, I_WALKING, I_POSITION,
              I_W_WAITED_LEVEL, I_W_WAITED_BUSY, I_S_WAITED_LEVEL, I_S_WAITED_HEAD):
        i[k] = -1
    runs = len(p.run_start)
    cand = np.empty(runs, dtype=np.int64)
    for r in range(runs):  # a resident model's runs are candidates from the start (in order: a valid heap)
        if p.run_job[r] < 0:
            cand[i[I_CAND_LEN]] = r
            i[I_CAND_LEN] += 1
    joiners = List.empty_list(_INT_LIST)
    for _ in range(S):
        joiners.append(_ints())
    band_tiles = np.diff(m.band_tile_ptr)
    node_left = np.empty(jobs * m.N, dtype=np.int64)
    stack_left = np.empty(jobs * S, dtype=np.int64)
    slice_left = np.zeros(jobs * m.NS, dtype=np.int64)
    for j in range(jobs):
        node_left[j * m.N:(j + 1) * m.N] = m.nbands
        stack_left[j * S:(j + 1) * S] = m.stack_bands
        if not p.resident:
            for t in range(m.T):
                if m.slice_id[t] >= 0:
                    slice_left[j * m.NS + m.slice_id[t]] += 1
    per_band = np.empty(bands, dtype=np.int64)
    deps = np.empty(bands, dtype=np.int64)
    for j in range(jobs):
        per_band[j * m.B:(j + 1) * m.B] = band_tiles
        deps[j * m.B:(j + 1) * m.B] = m.band_deps
    readers = np.empty(jobs * ring_bands, dtype=np.int64)
    for j in range(jobs):
        readers[j * ring_bands:(j + 1) * ring_bands] = m.ring_band_readers
    events = total + jobs + len(p.q_job) + 1
    rank = np.empty(total, dtype=np.int64)  # each tile's priority rank, by global tile
    for j in range(jobs):
        rank[j * m.T:(j + 1) * m.T] = m.rank
    return State(
        i, np.zeros(1),
        np.zeros(events), np.zeros(events, dtype=np.int64),
        np.full(total, -1, dtype=np.int64), np.zeros(total), np.zeros(total), np.zeros(total),
        np.zeros(total, dtype=np.int64), np.zeros(total, dtype=np.int64), np.zeros(total, dtype=np.int64),
        np.zeros(total), rank,
        np.zeros(cores, dtype=np.int64), np.zeros(cores, dtype=np.int64), np.zeros(cores), np.zeros(cores),
        np.zeros(cores), np.full(cores, np.nan), np.zeros(cores, dtype=np.int64), np.zeros(cores, dtype=np.int64),
        np.zeros((cores, 64), dtype=np.int64), np.zeros(cores, dtype=np.int64),
        np.zeros((cores, 16), dtype=np.int64), np.zeros(cores, dtype=np.int64),
        np.zeros(rings, dtype=np.int64), np.zeros(rings, dtype=np.int64), np.zeros(rings, dtype=np.int64),
        np.zeros(rings, dtype=np.int64), np.zeros(rings, dtype=np.int64), np.zeros(rings, dtype=np.int64),
        np.zeros(bands, dtype=np.int64), np.zeros(bands, dtype=np.int64), deps, per_band,
        np.zeros(bands, dtype=np.int64), np.full(bands, -1, dtype=np.int64), np.full(bands, -1, dtype=np.int64),
        np.full(bands, -1, dtype=np.int64), np.full(bands, -1, dtype=np.int64), per_band.copy(),
        np.zeros(jobs, dtype=np.int64), np.full(jobs, m.T, dtype=np.int64), node_left, readers,
        np.full(jobs * m.N, -1, dtype=np.int64), np.zeros(jobs, dtype=np.int64),
        np.full(jobs, m.N, dtype=np.int64), np.full(jobs, -1, dtype=np.int64), np.zeros(jobs, dtype=np.int64),
        np.full((jobs, 4), -1, dtype=np.int64), np.zeros(jobs, dtype=np.int64), np.zeros(jobs, dtype=np.int64),
        np.zeros(jobs * S, dtype=np.int64), stack_left, np.full(jobs * m.N, -1, dtype=np.int64),
        np.full(jobs * m.NS, -1, dtype=np.int64), slice_left, np.full(jobs * m.NS, -1, dtype=np.int64),
        np.zeros(jobs * streams, dtype=np.int64), np.zeros(jobs * len(m.row_bytes)),
        np.zeros(S, dtype=np.int64), np.zeros(S), np.zeros(S, dtype=np.int64), np.zeros(S, dtype=np.int64),
        _ints(), joiners,
        np.full(m.N, -1, dtype=np.int64), np.full(m.N, -1, dtype=np.int64), np.zeros(m.N, dtype=np.int64),
        _ints(), _ints(), _ints(), _ints(),
        _ints(), _ints(), _ints(), _ints(),
        np.zeros((BAGS, 64), dtype=np.int64), np.zeros(BAGS, dtype=np.int64),
        np.zeros((2, 2)),
        _floats(), _floats(), _floats(), _floats(), np.zeros(192), np.zeros(3 * total + 192),
        np.zeros(4, dtype=np.int64),
        np.zeros(3, dtype=np.int64), np.zeros(len(p.frame_job)), _ints(),
        p.run_start.copy(), cand, np.empty(runs, dtype=np.int64), np.zeros(S, dtype=np.int64),
        np.full(jobs, next_stack(m, 0), dtype=np.int64), np.full(jobs, m.stack_bands.sum(), dtype=np.int64),
    )


@njit(cache=True)
def as_array(values):
    out = np.empty(len(values))
    for k in range(len(values)):
        out[k] = values[k]
    return out


@njit(cache=True)
def as_int_array(values):
    out = np.empty(len(values), dtype=np.int64)
    for k in range(len(values)):
        out[k] = values[k]
    return out


@njit(cache=True)
def run_loop(tables, params):
    """Play out a run from cycle 0: (status, last cycle, the state's per-tile arrays and records as arrays)."""
    m = Model(*tables)
    p = Params(*params)
    s = new_state(m, p)
    status = play(m, p, s)
    return (status, s.now[0], s.core_of, s.issue, s.compute, s.end, s.dram_b, s.onchip_b, s.local_b,
            s.stall_since, s.channel, s.r_high, s.i[I_BUFFER_HIGH], s.dram_read, s.dram_write, s.frame_end,
            as_array(s.stalls), as_array(s.spills), as_array(s.spans), as_array(s.weight_loads),
            s.transfers[:s.i[I_N_TRANSFERS]], s.levels[:s.i[I_N_LEVELS]], as_int_array(s.band_order), s.i[I_DONE])
