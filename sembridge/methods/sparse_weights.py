"""``SparseWeights``: the row-sparse (CSR) weight matrix that builds new rows from source rows.

Row ``i`` is a distribution ``w_i`` over the source tokens (every weight ``> 0``, ``sum_j w_ij = 1``),
so ``W @ E`` mixes source rows convexly. The class owns every way such a matrix is built (from
``(indices, weights)`` rows, from a dense block or its largest entries, by stacking or scattering
blocks of rows, empty) and read (a row, its support sizes, dense or torch sparse form); the methods
that compute weights (``weights.py``, ``methods/``) only produce the numbers.

A *truncated* matrix (``support`` set) stores only the largest weights of each row, for reading
(reports, ``inspect-token``), while ``support`` keeps each row's true support size: alpha = 1 rows
are dense, and storing ``n_new x n_source`` weights is what must not happen. It cannot be combined.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = ["SparseWeights"]

# Tolerance on row sums in ``SparseWeights.from_rows``.
_ROW_SUM_TOLERANCE = 1e-4


@dataclass(eq=False)
class SparseWeights:
    """Row-sparse weight matrix in CSR form: row ``i`` is the distribution ``w_i`` over source tokens.

    Row ``i``'s support is ``indices[indptr[i]:indptr[i + 1]]`` (source token ids, sorted by weight
    descending, ties by lower id) with weights ``values[indptr[i]:indptr[i + 1]]``; every weight is
    ``> 0`` and every row sums to 1 (``sum_j w_ij = 1``), so ``W @ E`` mixes source rows convexly.

    When ``support`` (int64 ``[n_rows]``) is set, the matrix is truncated: each row stores only its
    largest weights (so it sums to less than 1) and ``support[i]`` is row ``i``'s true support size.
    ``recombine``, when set, computes ``W @ M`` with the full rows for a ``[num_columns]`` or
    ``[num_columns, d]`` matrix ``M`` (recomputing them chunk by chunk): what ``weights.combine`` calls
    for a truncated matrix.
    """

    indptr: torch.Tensor  # int64 [n_rows + 1]
    indices: torch.Tensor  # int64 [nnz]
    values: torch.Tensor  # float32 [nnz]
    num_columns: int
    support: torch.Tensor | None = None  # int64 [n_rows]: true support sizes of a truncated matrix
    recombine: Callable[[torch.Tensor], torch.Tensor] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.indptr.dim() != 1 or self.indptr.numel() < 1:
            raise ValueError(
                f"indptr must be 1-D with n_rows + 1 entries, got shape {tuple(self.indptr.shape)}."
            )
        if self.indices.dim() != 1 or self.values.dim() != 1 or self.indices.numel() != self.values.numel():
            raise ValueError(
                f"indices and values must be 1-D of equal length, got shapes {tuple(self.indices.shape)} "
                f"and {tuple(self.values.shape)}."
            )
        if self.num_columns < 0:
            raise ValueError(f"num_columns must be >= 0, got {self.num_columns}.")
        self.indptr = self.indptr.to(torch.int64)
        self.indices = self.indices.to(torch.int64)
        self.values = self.values.to(torch.float32)
        if self.support is not None:
            if self.support.shape != (len(self),):
                shape = tuple(self.support.shape)
                raise ValueError(f"support must have one entry per row ({len(self)}), got shape {shape}.")
            self.support = self.support.to(device=self.indptr.device, dtype=torch.int64)

    def __len__(self) -> int:
        return self.indptr.numel() - 1

    @property
    def nnz(self) -> int:
        """Number of stored weights (the summed support sizes)."""
        return self.values.numel()

    @property
    def device(self) -> torch.device:
        return self.values.device

    @property
    def truncated(self) -> bool:
        """Whether rows store only their largest weights (``support`` set)."""
        return self.support is not None

    def to(self, device: torch.device | str) -> SparseWeights:
        """The same weights on ``device``."""
        return SparseWeights(
            self.indptr.to(device),
            self.indices.to(device),
            self.values.to(device),
            self.num_columns,
            None if self.support is None else self.support.to(device),
            self.recombine,
        )

    def with_columns(self, column_ids: torch.Tensor, num_columns: int) -> SparseWeights:
        """The same rows with column ``j`` renamed ``column_ids[j]``, over ``num_columns`` columns.

        ``recombine`` is not carried over (it takes matrices over the old columns).
        """
        indices = column_ids.to(self.indices.device)[self.indices]
        return SparseWeights(self.indptr, indices, self.values, num_columns, self.support)

    def stored_sizes(self) -> torch.Tensor:
        """Number of stored weights of every row, int64 ``[n_rows]`` (the support sizes unless truncated)."""
        return self.indptr[1:] - self.indptr[:-1]

    def support_sizes(self) -> torch.Tensor:
        """``|supp(w_i)|`` for every row, int64 ``[n_rows]`` (of the full rows, also when truncated)."""
        return self.stored_sizes() if self.support is None else self.support

    def row(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(indices, values)`` of row ``i``, weight descending (its stored weights when truncated)."""
        if not 0 <= i < len(self):
            raise IndexError(f"row index must be in [0, {len(self)}), got {i}.")
        start, end = int(self.indptr[i]), int(self.indptr[i + 1])
        return self.indices[start:end], self.values[start:end]

    def _row_ids(self) -> torch.Tensor:
        return torch.repeat_interleave(
            torch.arange(len(self), device=self.indptr.device), self.stored_sizes(), output_size=self.nnz
        )

    def to_dense(self) -> torch.Tensor:
        """Dense float32 ``[n_rows, num_columns]`` matrix ``W`` (its stored weights when truncated)."""
        dense = torch.zeros(len(self), self.num_columns, dtype=torch.float32, device=self.values.device)
        dense[self._row_ids(), self.indices] = self.values
        return dense

    def to_torch_sparse(self) -> torch.Tensor:
        """``W`` as a torch sparse CSR tensor ``[n_rows, num_columns]`` (column ids sorted within rows)."""
        row_ids = self._row_ids()
        order = torch.argsort(row_ids * max(self.num_columns, 1) + self.indices, stable=True)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            return torch.sparse_csr_tensor(
                self.indptr,
                self.indices[order],
                self.values[order],
                size=(len(self), self.num_columns),
                check_invariants=False,
            )

    @staticmethod
    def concat(parts: Sequence[SparseWeights]) -> SparseWeights:
        """Stack the rows of ``parts`` in order (all must have the same ``num_columns``)."""
        if len(parts) == 0:
            raise ValueError("concat needs at least one SparseWeights, got 0.")
        num_columns = parts[0].num_columns
        for part in parts:
            if part.num_columns != num_columns:
                raise ValueError(f"all parts must have num_columns={num_columns}, got {part.num_columns}.")
        device = parts[0].device
        offsets = [0]
        for part in parts[:-1]:
            offsets.append(offsets[-1] + part.nnz)
        indptr = torch.cat(
            [torch.zeros(1, dtype=torch.int64, device=device)]
            + [part.indptr[1:].to(device) + offset for part, offset in zip(parts, offsets, strict=True)]
        )
        indices = torch.cat([part.indices.to(device) for part in parts])
        values = torch.cat([part.values.to(device) for part in parts])
        support = None
        if any(part.truncated for part in parts):
            support = torch.cat([part.support_sizes().to(device) for part in parts])
        return SparseWeights(indptr, indices, values, num_columns, support)

    @staticmethod
    def from_rows(rows: Sequence[tuple[Sequence[int], Sequence[float]]], num_columns: int) -> SparseWeights:
        """Build from ``(indices, weights)`` pairs, one per row (e.g. one-hot copies ``([j], [1.0])``).

        Each row must be a distribution over ``[0, num_columns)``: distinct column ids, finite
        weights ``>= 0`` that sum to 1 (within 1e-4). Zero weights are dropped; each row is sorted by
        weight descending, ties by lower column id.
        """
        if num_columns < 0:
            raise ValueError(f"num_columns must be >= 0, got {num_columns}.")
        columns_per_row = [np.asarray(idx, dtype=np.int64).reshape(-1) for idx, _ in rows]
        weights_per_row = [np.asarray(val, dtype=np.float64).reshape(-1) for _, val in rows]
        for i, (idx, val) in enumerate(zip(columns_per_row, weights_per_row, strict=True)):
            if idx.size != val.size:
                raise ValueError(f"row {i} has {idx.size} indices but {val.size} weights.")
        n_rows = len(columns_per_row)
        lengths = np.array([idx.size for idx in columns_per_row], dtype=np.int64)
        columns = np.concatenate(columns_per_row) if n_rows else np.zeros(0, dtype=np.int64)
        weights = np.concatenate(weights_per_row) if n_rows else np.zeros(0, dtype=np.float64)
        row_ids = np.repeat(np.arange(n_rows), lengths)

        def first_row(bad: np.ndarray) -> int:
            return int(row_ids[np.argmax(bad)])

        out_of_range = (columns < 0) | (columns >= num_columns)
        if out_of_range.any():
            i = first_row(out_of_range)
            raise ValueError(
                f"row {i} has column ids outside [0, {num_columns}): {columns_per_row[i].tolist()}."
            )
        bad_weight = ~np.isfinite(weights) | (weights < 0)
        if bad_weight.any():
            i = first_row(bad_weight)
            raise ValueError(f"row {i} has negative or non-finite weights: {weights_per_row[i].tolist()}.")
        by_column = np.lexsort((columns, row_ids))
        repeated = (np.diff(row_ids[by_column]) == 0) & (np.diff(columns[by_column]) == 0)
        if repeated.any():
            i = int(row_ids[by_column][np.argmax(repeated)])
            raise ValueError(f"row {i} repeats a column id: {columns_per_row[i].tolist()}.")
        totals = np.bincount(row_ids, weights=weights, minlength=n_rows)
        wrong_sum = np.abs(totals - 1.0) > _ROW_SUM_TOLERANCE
        if wrong_sum.any():
            i = int(np.argmax(wrong_sum))
            raise ValueError(f"row {i} weights must sum to 1, got {float(totals[i])}.")
        values = weights.astype(np.float32)
        keep = values > 0
        columns, values, row_ids = columns[keep], values[keep], row_ids[keep]
        order = np.lexsort((columns, -values, row_ids))
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(row_ids, minlength=n_rows), out=indptr[1:])
        return SparseWeights(
            torch.from_numpy(indptr),
            torch.from_numpy(np.ascontiguousarray(columns[order])),
            torch.from_numpy(np.ascontiguousarray(values[order])),
            num_columns,
        )

    @staticmethod
    def empty(num_columns: int, device: torch.device | str | None = None, rows: int = 0) -> SparseWeights:
        """``rows`` rows with no weight (none by default) over ``num_columns`` source tokens."""
        if rows < 0:
            raise ValueError(f"rows must be >= 0, got {rows}.")
        return SparseWeights(
            torch.zeros(rows + 1, dtype=torch.int64, device=device),
            torch.zeros(0, dtype=torch.int64, device=device),
            torch.zeros(0, dtype=torch.float32, device=device),
            num_columns,
        )

    @staticmethod
    def from_dense(
        dense: torch.Tensor, num_columns: int, column_ids: torch.Tensor | None = None
    ) -> SparseWeights:
        """The non-zero entries of a dense ``[rows, m]`` block, each row weight descending.

        Column ``j`` of the block stands for source id ``column_ids[j]`` (``j`` itself when None);
        ties keep the lower ``j`` first. The rows are taken as they are (not renormalised).
        """
        if dense.dim() != 2:
            raise ValueError(f"dense must be a 2-D [rows, columns] tensor, got shape {tuple(dense.shape)}.")
        ids = torch.arange(dense.shape[1], device=dense.device) if column_ids is None else column_ids
        if ids.shape != (dense.shape[1],):
            raise ValueError(f"column_ids must have {dense.shape[1]} entries, got {tuple(ids.shape)}.")
        values, order = dense.float().sort(dim=1, descending=True, stable=True)
        keep = values > 0
        indptr = torch.zeros(dense.shape[0] + 1, dtype=torch.int64, device=dense.device)
        indptr[1:] = keep.sum(1).cumsum(0)
        return SparseWeights(indptr, ids.to(dense.device)[order][keep], values[keep], num_columns)

    @staticmethod
    def largest_of_dense(
        dense: torch.Tensor, keep: int, num_columns: int, column_ids: torch.Tensor | None = None
    ) -> SparseWeights:
        """A truncated matrix that stores the ``keep`` largest non-zero entries of each dense row.

        Like ``from_dense`` (column ``j`` of the block stands for ``column_ids[j]``; each row weight
        descending, ties by lower ``j``; among entries equal to the ``keep``-th largest, the lower ``j`` are
        kept), with ``support`` = each row's count of non-zero entries. Works in place of a full sort:
        only ``[rows, keep]`` entries are ever sorted.
        """
        if dense.dim() != 2:
            raise ValueError(f"dense must be a 2-D [rows, columns] tensor, got shape {tuple(dense.shape)}.")
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}.")
        rows, width = dense.shape
        ids = torch.arange(width, device=dense.device) if column_ids is None else column_ids.to(dense.device)
        if ids.shape != (width,):
            raise ValueError(f"column_ids must have {width} entries, got {tuple(ids.shape)}.")
        dense = dense.float()
        support = (dense > 0).sum(1)
        k = min(keep, width)
        if rows == 0 or k == 0:
            return SparseWeights(
                torch.zeros(rows + 1, dtype=torch.int64, device=dense.device),
                torch.zeros(0, dtype=torch.int64, device=dense.device),
                torch.zeros(0, dtype=torch.float32, device=dense.device),
                num_columns,
                support,
            )
        kth = dense.topk(k, dim=1).values[:, -1:]
        # Entries above the k-th largest, then the lowest columns equal to it, up to k per row.
        above = dense > kth
        equal = dense == kth
        room = k - above.sum(1, keepdim=True)
        chosen = above | (equal & (torch.cumsum(equal, dim=1) <= room))
        columns = chosen.nonzero()[:, 1].view(rows, k)  # ascending within each row
        values = dense.gather(1, columns)
        values, order = values.sort(dim=1, descending=True, stable=True)
        columns = columns.gather(1, order)
        kept = values > 0
        indptr = torch.zeros(rows + 1, dtype=torch.int64, device=dense.device)
        indptr[1:] = kept.sum(1).cumsum(0)
        return SparseWeights(indptr, ids[columns[kept]], values[kept], num_columns, support)

    @staticmethod
    def scatter(
        blocks: Sequence[tuple[torch.Tensor, SparseWeights]],
        rows: int,
        num_columns: int,
        device: torch.device | str | None = None,
    ) -> SparseWeights:
        """``rows`` rows: for each block ``(positions, weights)``, row ``positions[a]`` = row ``a`` of it.

        Rows that no block names have no weight. Positions must not repeat across blocks.
        """
        counts = torch.zeros(rows, dtype=torch.int64, device=device)
        support = torch.zeros(rows, dtype=torch.int64, device=device)
        for positions, weights in blocks:
            if len(positions) != len(weights):
                raise ValueError(f"a block has {len(positions)} positions for {len(weights)} rows.")
            if weights.num_columns != num_columns:
                raise ValueError(
                    f"all blocks must have num_columns={num_columns}, got {weights.num_columns}."
                )
            counts[positions.to(counts.device)] = weights.stored_sizes().to(counts.device)
            support[positions.to(counts.device)] = weights.support_sizes().to(counts.device)
        indptr = torch.zeros(rows + 1, dtype=torch.int64, device=device)
        indptr[1:] = counts.cumsum(0)
        indices = torch.empty(int(indptr[-1]), dtype=torch.int64, device=device)
        values = torch.empty(int(indptr[-1]), dtype=torch.float32, device=device)
        for positions, weights in blocks:
            sizes = weights.stored_sizes().to(indptr.device)
            # Destination of every stored entry: its row's start plus its rank inside the row.
            shift = indptr[positions.to(indptr.device)] - weights.indptr[:-1].to(indptr.device)
            destination = torch.arange(weights.nnz, device=indptr.device) + torch.repeat_interleave(
                shift, sizes, output_size=weights.nnz
            )
            indices[destination] = weights.indices.to(indptr.device)
            values[destination] = weights.values.to(indptr.device)
        truncated = any(weights.truncated for _, weights in blocks)
        return SparseWeights(indptr, indices, values, num_columns, support if truncated else None)
