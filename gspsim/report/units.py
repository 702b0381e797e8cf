"""Numbers as people read them: bytes in KiB/MiB, energies in pJ..mJ, times in ns..s, with a few significant digits."""

from __future__ import annotations


def fmt_bytes(n: float) -> str:
    """1536 -> '1.50 KiB' (binary units; whole bytes below 1 KiB)."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} GiB"  # pragma: no cover


def _scaled(value: float, units: tuple[tuple[float, str], ...], digits: int) -> str:
    v = float(value)
    if v == 0:
        return f"0 {units[-1][1]}"
    for scale, unit in units:
        if abs(v) >= scale:
            return f"{v / scale:.{digits}g} {unit}"
    scale, unit = units[-1]
    return f"{v / scale:.{digits}g} {unit}"


def fmt_energy(joules: float, digits: int = 3) -> str:
    """2.0794623999999993e-06 -> '2.08 µJ'."""
    return _scaled(joules, ((1.0, "J"), (1e-3, "mJ"), (1e-6, "µJ"), (1e-9, "nJ"), (1e-12, "pJ")), digits)


def fmt_seconds(seconds: float, digits: int = 4) -> str:
    """0.000116193 -> '116.2 µs'."""
    return _scaled(seconds, ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns")), digits)
