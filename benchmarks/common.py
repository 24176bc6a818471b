"""Shared pieces of the benchmark scripts: timers, peak memory, machine description, rich tables.

Every script prints figures (never pass/fail) and can write them as JSON (``--json PATH``) so that
``tests/benchmarks/test_benchmarks.py`` and ``run_all.py`` can read them back.

Peak memory. ``ru_maxrss`` is the high-water mark of the whole process, so a stage's own peak is
measured with :class:`PeakMemory`: a thread samples the resident set size every few milliseconds
while the stage runs, and ``ru_maxrss`` read before and after catches any spike between two
samples whenever the stage sets a new high for the process (which it does when the stage runs in
a process that holds little else, as the scripts arrange).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import resource
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

# The offline test assets (``offline_assets/``) live beside the package, at the repository root.
REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)

# Wide tables when the output is a file or a pipe (rich would wrap them at 80 columns).
console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)

MB = 1024 * 1024
GB = 1024 * MB


# ----------------------------------------------------------------------------------------------
# Memory


def current_rss() -> int:
    """Resident set size of this process in bytes (psutil, else /proc/self/status)."""
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except ImportError:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    return 0


def max_rss() -> int:
    """The process's resident high-water mark in bytes (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(value) if sys.platform == "darwin" else int(value) * 1024


class PeakMemory:
    """Peak resident memory of a block of code, and its rise over the resident size before it.

    ``before``: RSS when the block starts; ``peak``: the highest RSS seen while it ran; ``delta``:
    ``peak - before``. On a CUDA device, ``cuda_peak`` is ``torch.cuda.max_memory_allocated``.
    """

    def __init__(self, interval: float = 0.002, cuda_device: Any = None) -> None:
        self.interval = interval
        self.cuda_device = cuda_device
        self.before = 0
        self.peak = 0
        self.cuda_peak: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._max_before = 0

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, current_rss())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        gc.collect()
        if self.cuda_device is not None:
            import torch

            torch.cuda.synchronize(self.cuda_device)
            torch.cuda.reset_peak_memory_stats(self.cuda_device)
        self.before = current_rss()
        self.peak = self.before
        self._max_before = max_rss()
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, current_rss())
        max_after = max_rss()
        if max_after > self._max_before:  # the block set the process's high-water mark: exact
            self.peak = max(self.peak, max_after)
        if self.cuda_device is not None:
            import torch

            torch.cuda.synchronize(self.cuda_device)
            self.cuda_peak = int(torch.cuda.max_memory_allocated(self.cuda_device))

    @property
    def delta(self) -> int:
        return self.peak - self.before


# ----------------------------------------------------------------------------------------------
# Time


class Stopwatch:
    """Accumulates wall time per named part; ``sync`` (e.g. ``torch.cuda.synchronize``) runs at both ends."""

    def __init__(self, sync: Any = None) -> None:
        self.sync = sync
        self.seconds: dict[str, float] = {}

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        if self.sync is not None:
            self.sync()
        start = time.perf_counter()
        try:
            yield
        finally:
            if self.sync is not None:
                self.sync()
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def total(self, *names: str) -> float:
        return sum(self.seconds.get(name, 0.0) for name in names)


def cuda_sync(device: Any) -> Any:
    """A no-argument synchronisation for ``device`` (None on the CPU)."""
    import torch

    device = torch.device(device)
    if device.type != "cuda":
        return None
    return lambda: torch.cuda.synchronize(device)


# ----------------------------------------------------------------------------------------------
# Machine


def machine_info(device: str = "cpu") -> dict[str, Any]:
    """What the figures were measured on: CPU, cores, load, memory, library versions, GPU."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "malloc": allocator(),
    }
    try:
        import psutil

        info["memory_gb"] = round(psutil.virtual_memory().total / GB, 1)
    except ImportError:
        pass
    if str(device).startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


# Where Debian's libtcmalloc-minimal4 puts the library, by architecture.
TCMALLOC_PATHS = tuple(
    Path(f"/usr/lib/{arch}-linux-gnu/libtcmalloc_minimal.so.4") for arch in ("x86_64", "aarch64")
)


def tcmalloc_path() -> Path | None:
    """Debian's tcmalloc library where it is installed (what bench_allocator.py preloads)."""
    return next((path for path in TCMALLOC_PATHS if path.is_file()), None)


def allocator() -> str:
    """The allocator this process runs under: the preloaded library's name, or glibc's malloc."""
    preloaded = [Path(lib).name for lib in os.environ.get("LD_PRELOAD", "").split() if "malloc" in lib]
    return preloaded[0] if preloaded else "glibc"


def resolve_device(name: str) -> str:
    """``cpu`` or ``cuda`` (``cuda`` without a GPU is refused with a clear message)."""
    import torch

    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {name}: no CUDA GPU is visible to torch {torch.__version__}.")
    return name


# ----------------------------------------------------------------------------------------------
# Command line and output


def base_parser(description: str, device: bool = True) -> argparse.ArgumentParser:
    """An argument parser with the options every script shares: --quick, --json, --device."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes that finish in a minute or two")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    if device:
        parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's, one per core)"
    )
    return parser


def apply_threads(threads: int | None) -> None:
    """Set torch's intra-op CPU threads when ``--threads`` is given."""
    if threads is None:
        return
    if threads < 1:
        raise SystemExit(f"--threads must be a positive integer, got {threads}.")
    import torch

    torch.set_num_threads(threads)


def header(title: str, device: str = "cpu") -> dict[str, Any]:
    """Print the script's title and the machine it runs on; return the machine description."""
    info = machine_info(device)
    console.rule(f"[bold]{title}")
    machine = ", ".join(f"{key} {value}" for key, value in info.items() if value is not None)
    console.print(f"[dim]machine: {machine}[/dim]")
    return info


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a rich table; numbers are formatted with :func:`fmt`."""
    out = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        out.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        out.add_row(*(fmt(value) for value in row))
    console.print(out)


def fmt(value: Any) -> str:
    """Human-readable numbers: thousands separators, 3 significant digits for small floats."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value == 0:
            return "0"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    return str(value)


def gb(nbytes: float | None) -> float | None:
    return None if nbytes is None else nbytes / GB


def mb(nbytes: float | None) -> float | None:
    return None if nbytes is None else nbytes / MB


def write_figures(path: Path | None, figures: Mapping[str, Any]) -> None:
    """Write the figures as JSON to ``path`` (if given)."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    console.print(f"[dim]figures written to {path}[/dim]")


def quiet_libraries() -> None:
    """Silence the progress bars and chatty warnings of the libraries (the tables are the output)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    for name in ("transformers", "sentence_transformers", "datasets"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass
