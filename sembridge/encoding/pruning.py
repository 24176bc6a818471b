"""Post-hoc pruning of sparse document vectors, as in MILCO: by L1 mass or by a term count.

Both prunings work on each row (one document) of a CSR matrix and never modify their input:

- **mass** ``F``: sort a row's terms by ``|w|`` (highest first; ties by lower term id) and keep
  the shortest prefix whose L1 mass reaches ``F`` times the row's L1 mass, i.e. keep term ``i``
  while the mass kept before it is below ``F * sum_j |w_j|``. ``F = 1`` keeps every term.
- **top-k** ``K``: keep at most the ``K`` highest ``|w|`` of each row (ties by lower term id).

A :class:`Pruning` may hold both (mass first, then the count cap), which is what
``sembridge export`` applies; ``sembridge evaluate`` sweeps one value at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from sembridge.errors import SembridgeError

_CELLS = 4_194_304  # padded cells per chunk (32 MiB of float64)


@dataclass(frozen=True)
class Pruning:
    """A pruning setting: ``mass`` fraction of L1 mass to keep, ``top_k`` terms at most (None: off)."""

    mass: float | None = None
    top_k: int | None = None

    def __post_init__(self) -> None:
        if self.mass is not None and not (0.0 < self.mass <= 1.0):
            raise SembridgeError(
                f"pruning mass must be in (0, 1], got {self.mass}",
                hint="e.g. --prune-mass 0.9 keeps 90% of the mass",
            )
        if self.top_k is not None and (
            isinstance(self.top_k, bool) or int(self.top_k) != self.top_k or self.top_k < 1
        ):
            raise SembridgeError(
                f"pruning top-k must be a positive integer, got {self.top_k}", hint="e.g. --prune-top-k 64"
            )

    @property
    def active(self) -> bool:
        return self.mass is not None or self.top_k is not None

    @property
    def label(self) -> str:
        parts = []
        if self.mass is not None:
            parts.append(f"mass={self.mass:g}")
        if self.top_k is not None:
            parts.append(f"top-k={self.top_k}")
        return ",".join(parts) or "none"

    def to_dict(self) -> dict[str, float | int | None]:
        return {"mass": self.mass, "top_k": self.top_k}

    def apply(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        """Prune every row of ``matrix`` (a new matrix; the input is left as it is)."""
        out = matrix
        if self.mass is not None:
            out = prune_mass(out, self.mass)
        if self.top_k is not None:
            out = prune_top_k(out, self.top_k)
        return out if out is not matrix else matrix.copy()


def pruning_sweep(masses: Iterable[float] = (), top_ks: Iterable[int] = ()) -> list[Pruning]:
    """The settings of a sweep: no pruning first, then each mass, then each top-k (duplicates removed)."""
    settings = [Pruning()]
    settings += [Pruning(mass=float(m)) for m in masses]
    settings += [Pruning(top_k=int(k)) for k in top_ks]
    unique: list[Pruning] = []
    for setting in settings:
        if setting not in unique:
            unique.append(setting)
    return unique


def prune_top_k(matrix: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep at most ``k`` highest-``|w|`` terms per row (ties: lower term id first)."""
    Pruning(top_k=k)  # validates k

    def decide(sorted_values: np.ndarray, rank: np.ndarray, valid: np.ndarray) -> np.ndarray:
        return valid & (rank < k)

    return _prune_rows(matrix, decide)


def prune_mass(matrix: sp.csr_matrix, mass: float) -> sp.csr_matrix:
    """Keep each row's highest-``|w|`` terms until ``mass`` of the row's L1 mass is kept.

    Term ``i`` (in sorted order) is kept when ``sum_{j<i} |w_j| < mass * sum_j |w_j|``: the
    shortest prefix reaching the target. Sums are float64 and per row.
    """
    Pruning(mass=mass)  # validates mass

    def decide(sorted_values: np.ndarray, rank: np.ndarray, valid: np.ndarray) -> np.ndarray:
        values = np.where(valid, sorted_values, 0.0)
        cumulative = np.cumsum(values, axis=1)
        before = cumulative - values  # mass kept before each term
        target = mass * cumulative[:, -1:]
        return valid & (before < target)

    return _prune_rows(matrix, decide)


def active_terms(matrix: sp.csr_matrix) -> np.ndarray:
    """Number of non-zero terms of each row."""
    matrix = _as_csr(matrix)
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    return np.bincount(rows[matrix.data != 0], minlength=matrix.shape[0])


def parse_values(values: Sequence[str] | None, kind: type, option: str) -> list:
    """Parse repeated and comma-separated CLI values (``--prune-mass 0.8,0.9 --prune-mass 0.95``)."""
    parsed = []
    for value in values or ():
        for part in str(value).split(","):
            part = part.strip()
            if not part:
                continue
            try:
                number = kind(part)
            except ValueError as err:
                raise SembridgeError(
                    f"{option} value '{part}' is not a {'number' if kind is float else 'whole number'}",
                    hint=f"e.g. {option} {'0.9' if kind is float else '64'} "
                    "(for a list, repeat the option or separate values with commas)",
                ) from err
            parsed.append(number)
    return parsed


def _as_csr(matrix: sp.spmatrix) -> sp.csr_matrix:
    if not sp.issparse(matrix):
        raise SembridgeError(f"pruning needs a scipy sparse matrix, got {type(matrix).__name__}")
    matrix = matrix.tocsr()
    if not matrix.has_canonical_format:
        matrix = matrix.copy()
        matrix.sum_duplicates()
    return matrix


def _prune_rows(matrix: sp.spmatrix, decide) -> sp.csr_matrix:
    """Sort each row by (-|w|, term id) and keep the entries ``decide`` marks.

    Rows are handled in chunks laid out as a padded (rows x longest row) array, so every row is
    sorted on its own (fast for many short rows) and memory stays at ``_CELLS`` values.
    ``decide(sorted_values, rank, valid)`` gets float64 ``|w|`` sorted descending per row, the
    rank of each cell and whether the cell holds an entry, and returns a boolean mask.
    """
    matrix = _as_csr(matrix)
    n_rows = matrix.shape[0]
    counts = np.diff(matrix.indptr)
    keep = np.zeros(matrix.nnz, dtype=bool)
    longest = int(counts.max()) if n_rows else 0
    if longest == 0:
        return _masked(matrix, keep)
    rows_per_chunk = max(1, _CELLS // longest)
    for start in range(0, n_rows, rows_per_chunk):
        stop = min(start + rows_per_chunk, n_rows)
        lo, hi = matrix.indptr[start], matrix.indptr[stop]
        if hi == lo:
            continue
        width = int(counts[start:stop].max())
        local_rows = np.repeat(np.arange(stop - start), counts[start:stop])
        column = np.arange(hi - lo) - (matrix.indptr[start:stop][local_rows] - lo)
        padded = np.full((stop - start, width), -1.0)  # padding sorts after every |w| >= 0
        padded[local_rows, column] = np.abs(matrix.data[lo:hi].astype(np.float64))
        # A stable sort keeps the term-id order (CSR columns are sorted) among equal weights.
        order = np.argsort(-padded, axis=1, kind="stable")
        sorted_values = np.take_along_axis(padded, order, axis=1)
        rank = np.broadcast_to(np.arange(width), sorted_values.shape)
        valid = rank < counts[start:stop, None]
        keep_sorted = decide(sorted_values, rank, valid)
        keep_cells = np.zeros_like(keep_sorted)
        np.put_along_axis(keep_cells, order, keep_sorted, axis=1)
        keep[lo:hi] = keep_cells[local_rows, column]
    return _masked(matrix, keep)


def _masked(matrix: sp.csr_matrix, keep: np.ndarray) -> sp.csr_matrix:
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    kept_per_row = np.bincount(rows[keep], minlength=matrix.shape[0])
    indptr = np.concatenate([[0], np.cumsum(kept_per_row)]).astype(matrix.indptr.dtype)
    return sp.csr_matrix((matrix.data[keep].copy(), matrix.indices[keep].copy(), indptr), shape=matrix.shape)
