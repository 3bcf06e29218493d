"""What the benchmark ran on: processor, caches, memory, load, versions; and where an array lives.

Absolute times mean little without the machine, and the machines these benchmarks run on
differ (an AMD EPYC with a 32 MiB L3 one day, a virtual Intel Xeon reporting a 300 MiB L3 the
next). :func:`describe` records what the kernel says about the processor
(``/sys/devices/system/cpu``, ``lscpu``) and :func:`level` decides, from those cache sizes,
whether a working set sits in L2, in L3 or in DRAM.
"""

from __future__ import annotations

import glob
import os
import platform
import subprocess

import numba
import numpy as np

import adamlib
from adamlib import _jit

_SIZE_UNITS = {"K": 2**10, "M": 2**20, "G": 2**30}


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def caches(cpu: int = 0) -> list[dict]:
    """The caches of one processor: level, type, size in bytes and how many CPUs share it."""
    found = []
    for index in sorted(glob.glob(f"/sys/devices/system/cpu/cpu{cpu}/cache/index*")):
        try:
            size = _read(f"{index}/size")
            shared = _read(f"{index}/shared_cpu_list")
            entry = {"level": int(_read(f"{index}/level")), "type": _read(f"{index}/type"),
                     "bytes": int(size[:-1]) * _SIZE_UNITS[size[-1]] if size[-1] in _SIZE_UNITS else int(size)}
        except (OSError, ValueError):
            continue
        entry["shared_by"] = sum(len(range(int(a), int(b) + 1)) if "-" in part else 1
                                 for part in shared.split(",")
                                 for a, _, b in [part.partition("-")])
        found.append(entry)
    return found


def cache_bytes(found: list[dict], level: int) -> int | None:
    """Size of the data (or unified) cache at ``level``, as seen by one CPU, or None."""
    sizes = [c["bytes"] for c in found if c["level"] == level and c["type"] in ("Data", "Unified")]
    return sizes[0] if sizes else None


def lscpu() -> dict:
    """``lscpu``'s fields, less the vulnerability lines and the flags (None where it is missing)."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key and not key.startswith("Vulnerability") and key != "Flags":
            fields[key.strip()] = value.strip()
    return fields


def simd() -> list[str]:
    """The vector instruction sets the processor reports (from /proc/cpuinfo's flags)."""
    try:
        flags = next(line for line in _read("/proc/cpuinfo").splitlines() if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return []
    return [f for f in ("sse4_2", "avx", "avx2", "fma", "avx512f") if f in flags]


def memory_available() -> int | None:
    """Bytes of memory available for new allocations (``MemAvailable``), or None."""
    try:
        line = next(line for line in _read("/proc/meminfo").splitlines() if line.startswith("MemAvailable"))
    except (OSError, StopIteration):
        return None
    return int(line.split()[1]) * 1024


def load() -> list[float]:
    """The 1, 5 and 15 minute load averages (what ``uptime`` prints)."""
    return [round(x, 2) for x in os.getloadavg()]


def describe(threads: int, peers: dict) -> dict:
    """Everything a reader needs to place the benchmark's numbers; ``peers`` maps peer to version."""
    fields = lscpu()
    found = caches()
    return {
        "cpu": fields.get("Model name") or platform.processor(),
        "cores": os.cpu_count(), "threads": threads,
        "caches": found, "l2_bytes": cache_bytes(found, 2), "l3_bytes": cache_bytes(found, 3),
        "simd": simd(), "lscpu": fields, "memory_available": memory_available(),
        "python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
        **peers, "adamlib": adamlib.__version__, "threading_layer": numba.threading_layer(),
        "parallel_threshold": _jit.PARALLEL_THRESHOLD,
    }


def level(working_set: int, cores: int, description: dict) -> str:
    """Where a working set of ``working_set`` bytes, split over ``cores`` cores, lives.

    ``"L2"`` if each core's share fits in half its L2, ``"L3"`` if the whole fits in half the
    L3, ``"DRAM"`` if it is at least four times the L3 (STREAM's rule for a measurement of
    memory, not cache), and ``"L3/DRAM"`` in between, where part of it stays cached.
    """
    l2, l3 = description["l2_bytes"], description["l3_bytes"]
    if l2 and working_set / cores <= l2 / 2:
        return "L2"
    if l3 and working_set <= l3 / 2:
        return "L3"
    if l3 is None or working_set >= 4 * l3:
        return "DRAM"
    return "L3/DRAM"
