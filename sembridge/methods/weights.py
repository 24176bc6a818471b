"""Similarity in chunks, exact top-k alpha-entmax weights, and convex combinations (docs/method.md 4-6).

For every new target token ``i`` and every source token ``j``:

* similarity (step 4):  ``s_ij = <t_i, e_j> / (||t_i|| ||e_j||)`` over ALL source tokens;
* weights (step 5):     ``w_i = alpha-entmax(s_i)``, i.e.
  ``w_ij = [(alpha - 1) s_ij - tau_i]_+ ** (1 / (alpha - 1))`` with ``tau_i`` such that ``sum_j w_ij = 1``
  (``alpha = 1`` is the softmax ``w_ij = exp(s_ij) / sum_k exp(s_ik)``);
* combination (step 6): ``E'_i = sum_j w_ij E_j``, a convex combination of source rows.

The scores Entmax sees are ``fl32(s_ij)``: the cosine of the unit vectors computed in float64, rounded
to float32 once, so that they do not depend on how rows are chunked. ``entmax_rows`` gives the same
numbers as ``entmax.entmax_bisect`` over the full row but only bisects the top-k scores of each row
(see its docstring for why that is exact). ``iter_entmax_weights`` (alpha > 1) never forms the float64
product: it ranks the candidates of each row with a float32 product, whose error is bounded, and
computes ``fl32(s_ij)`` in float64 only for the candidates (and, rarely, for a whole row); the
exactness check of the top-k bisection tells when the candidates suffice (``_CandidateScores``).
``softmax_combine`` builds alpha = 1 (dense) rows and their combinations chunk by chunk, so memory
stays bounded by ``chunk_size x n_source``. ``reference_entmax_weights`` is the plain row-at-a-time
algorithm, kept for tests and benchmarks.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from entmax import entmax_bisect

from sembridge.methods.sparse_weights import SparseWeights

__all__ = [
    "combine",
    "entmax_rows",
    "entmax_weights",
    "iter_entmax_weights",
    "iter_similarity",
    "reference_entmax_weights",
    "softmax_combine",
]

# Growth factor of k for rows whose support filled the top k.
_K_GROWTH = 4
# The float32 candidate path is used above this alpha; at or below it the supports are so large that
# the float64 product is cheaper than rescoring candidates.
FLOAT32_MIN_ALPHA = 2.0
# Unit roundoff of float32.
_UNIT_ROUNDOFF = 2.0**-24


def _check_alpha(alpha: float) -> None:
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"alpha must be a number >= 1, got {alpha!r}.") from None
    if not (math.isfinite(value) and value >= 1):
        raise ValueError(f"alpha must be >= 1, got {alpha}.")


def _check_pair(target: torch.Tensor, source: torch.Tensor) -> None:
    if target.dim() != 2:
        raise ValueError(f"target must be a 2-D [n_target, dim] tensor, got shape {tuple(target.shape)}.")
    if source.dim() != 2:
        raise ValueError(f"source must be a 2-D [n_source, dim] tensor, got shape {tuple(source.shape)}.")
    if target.shape[1] != source.shape[1]:
        raise ValueError(
            f"target and source must have the same dimension, got {target.shape[1]} and {source.shape[1]}."
        )


def iter_similarity(
    target: torch.Tensor,
    source: torch.Tensor,
    chunk_size: int = 1024,
    device: torch.device | str | None = None,
) -> Iterator[tuple[int, torch.Tensor]]:
    """Cosine similarity of target rows to ALL source rows, ``chunk_size`` target rows at a time.

    Yields ``(start, sim)`` with ``sim[a, j] = <t_{start+a}, e_j> / (||t_{start+a}|| ||e_j||)``,
    float32 ``[rows_in_chunk, n_source]`` on ``device`` (default: ``target``'s device). A zero row has
    similarity 0 to everything. The inputs are not modified.

    Normalisation and the dot products run in float64 and are rounded to float32 once: a float32
    GEMM's last bits depend on the chunk's shape, and alpha-entmax with alpha > 2 turns a one-ulp
    change of a score near the threshold into a visible change of weight, so this keeps the
    scores (and the weights) the same whatever ``chunk_size`` is.
    """
    _check_pair(target, source)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}.")
    return _similarity_chunks(
        target, source, chunk_size, torch.device(device) if device is not None else target.device
    )


def _similarity_chunks(
    target: torch.Tensor, source: torch.Tensor, chunk_size: int, device: torch.device
) -> Iterator[tuple[int, torch.Tensor]]:
    source_unit = F.normalize(source.to(device=device, dtype=torch.float64), dim=-1)
    for start in range(0, target.shape[0], chunk_size):
        chunk = F.normalize(target[start : start + chunk_size].to(device=device, dtype=torch.float64), dim=-1)
        yield start, (chunk @ source_unit.T).to(torch.float32)


class _ZeroRows:
    """Rows of zeros of one width, reused: a caller writes into ``take(n)`` and sets its entries back to 0."""

    def __init__(self, width: int, dtype: torch.dtype, device: torch.device) -> None:
        self.width, self.dtype, self.device = width, dtype, device
        self.buffer = torch.zeros(0, width, dtype=dtype, device=device)

    def take(self, n: int) -> torch.Tensor:
        if n > self.buffer.shape[0]:
            self.buffer = torch.zeros(n, self.width, dtype=self.dtype, device=self.device)
        return self.buffer[:n]


def _bisect_topk(
    top_scores: torch.Tensor,
    top_columns: torch.Tensor,
    bound: torch.Tensor,
    full_rows: Callable[[torch.Tensor], torch.Tensor],
    rows: torch.Tensor,
    width: int,
    alpha: float,
    n_iter: int,
    zeros: _ZeroRows | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``entmax_bisect``'s forward pass over full rows, evaluated on k of their scores.

    ``top_scores[a]`` ``[r, k]`` holds k scores (at columns ``top_columns[a]``) of the full row
    ``full_rows(rows[a:a+1])`` (``[1, width]``), and ``bound[a]`` is at least every score of that row
    outside those k columns (the (k+1)-th largest score when the k are the top k). The float32
    operations are those of ``entmax.root_finding.EntmaxBisectFunction.forward``: ``x = (alpha-1) s``;
    bracket ``tau in [max x - 1, max x - width ** (1 - alpha)]`` (the full width, so the thresholds tried
    are the full row's); ``n_iter`` halvings keeping ``tau`` when
    ``f(tau) = sum_j [x_j - tau]_+ ** (1/(alpha-1)) - 1 >= 0``; then ``p = [x - tau]_+ ** (1/(alpha-1))``
    divided by its sum.

    The k-term ``f`` is a float32 sum in another order than the full row's. Where ``|f(tau)|`` is within
    the rounding bound ``2 (log2(n + 1) + 2) u S`` (``n`` positive terms summing to ``S``, ``u = 2**-24``) the
    two might branch differently, so there ``f`` is recomputed over the full row exactly as
    ``entmax_bisect`` computes it (cached per row: near convergence the same ``tau`` recurs). Elsewhere
    the signs agree. Once ``tau_lo + dm == tau_lo`` in every row the remaining halvings cannot change
    anything, so the loop stops early with the same result.

    The full-row recomputation is cheap when ``tau >= x_bound = (alpha-1) bound``: every term outside
    the k columns is then exactly 0, so the full row's terms are the k terms (the same float32
    operations on the same numbers) scattered into zeros at their columns, and the full-width float32
    sum of that row is ``entmax_bisect``'s sum bit for bit, without raising 30k numbers to a power. Only
    rows with ``tau < x_bound`` fetch the full row (``full_rows``) and recompute every term.

    Returns ``p`` ``[r, k]`` at the last threshold tried, divided by its sum, and ``exact`` ``[r]``: that
    threshold is ``>= x_bound``, so that every score outside the k columns gets weight 0 and the run
    tried the full row's thresholds (see ``entmax_rows``): ``p`` is then the full row's result.
    """
    n_rows = top_scores.shape[0]
    alpha_t = torch.tensor(alpha, dtype=top_scores.dtype, device=top_scores.device).expand(n_rows, 1)
    max_val, _ = top_scores.max(dim=-1, keepdim=True)
    x = top_scores * (alpha_t - 1)
    x_bound = bound.reshape(n_rows, 1) * (alpha_t - 1)
    max_val = max_val * (alpha_t - 1)
    tau_lo = max_val - 1 ** (alpha_t - 1)
    tau_hi = max_val - (1 / width) ** (alpha_t - 1)
    dm = tau_hi - tau_lo
    inv = 1 / (alpha_t - 1)
    cached_tau = torch.full_like(dm, math.nan)
    cached_f = torch.zeros_like(dm)
    if zeros is None:
        zeros = _ZeroRows(width, top_scores.dtype, top_scores.device)
    for _ in range(n_iter):
        dm = dm / 2
        tau_m = tau_lo + dm
        p_m = torch.clamp(x - tau_m, min=0) ** inv
        total = p_m.sum(-1, keepdim=True)
        f_m = total - 1
        support = torch.count_nonzero(p_m, dim=-1).unsqueeze(-1).to(total.dtype)
        close = f_m.abs() <= 2 * (torch.log2(support + 1) + 2) * _UNIT_ROUNDOFF * total
        if bool(close.any()):
            need = (close & (tau_m != cached_tau)).squeeze(-1).nonzero().squeeze(-1)
            if need.numel():
                outside_zero = tau_m[need] >= x_bound[need]
                cheap, costly = need[outside_zero.squeeze(-1)], need[~outside_zero.squeeze(-1)]
                if cheap.numel():
                    columns = top_columns[cheap]
                    p_full = zeros.take(cheap.numel())
                    p_full.scatter_(1, columns, p_m[cheap])
                    cached_f[cheap] = p_full.sum(-1, keepdim=True) - 1
                    p_full.scatter_(1, columns, 0.0)
                if costly.numel():
                    x_full = full_rows(rows[costly]) * (alpha_t[costly] - 1)
                    p_full = torch.clamp(x_full - tau_m[costly], min=0) ** inv[costly]
                    cached_f[costly] = p_full.sum(-1, keepdim=True) - 1
                cached_tau[need] = tau_m[need]
            f_m = torch.where(close, cached_f, f_m)
        converged = bool((tau_m == tau_lo).all())
        tau_lo = torch.where(f_m >= 0, tau_m, tau_lo)
        if converged:
            break
    exact = (tau_m >= x_bound).squeeze(-1)
    # Normalised in float64 so that the result does not depend on k (the summation order); entmax_bisect
    # divides by a float32 sum, which differs by at most an ulp.
    return (p_m.double() / p_m.sum(dim=-1, keepdim=True, dtype=torch.float64)).float(), exact


def _support_may_fit(top_scores: torch.Tensor, bound: torch.Tensor, alpha: float) -> torch.Tensor:
    """Rows whose k columns can hold the support: ``f(x_bound) > 0`` over them, i.e. ``tau > x_bound``.

    Only a filter that saves bisecting rows that certainly need a larger k; exactness is decided later.
    """
    alpha_t = torch.tensor(alpha, dtype=top_scores.dtype, device=top_scores.device)
    x = top_scores * (alpha_t - 1)
    x_bound = bound.unsqueeze(-1) * (alpha_t - 1)
    mass = (torch.clamp(x - x_bound, min=0) ** (1 / (alpha_t - 1))).sum(-1)
    return mass > 1


def _pack(
    columns: torch.Tensor, weights: torch.Tensor, columns_sorted: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sort each row by weight descending (ties by lower column id), drop zeros.

    Returns ``(counts [r], flat_columns, flat_weights)`` in row-major order.
    """
    if not columns_sorted:
        order = torch.argsort(columns, dim=-1, stable=True)
        columns, weights = columns.gather(1, order), weights.gather(1, order)
    order = torch.argsort(weights, dim=-1, descending=True, stable=True)
    columns, weights = columns.gather(1, order), weights.gather(1, order)
    keep = weights > 0
    return keep.sum(-1), columns[keep], weights[keep]


def _full_rows(scores: torch.Tensor, alpha: float, n_iter: int) -> tuple[torch.Tensor, ...]:
    """alpha-entmax over complete rows with ``entmax_bisect`` itself (the reference computation)."""
    weights = entmax_bisect(scores, alpha, dim=-1, n_iter=n_iter)
    keep = int((weights > 0).sum(-1).max()) if weights.shape[0] else 0
    top_weights, columns = weights.topk(max(keep, 1), dim=-1)
    return _pack(columns, top_weights, columns_sorted=False)


# One group of rows to bisect: (their positions in the pending rows [h], their scores at some columns
# [h, j], those columns [h, j], a bound [h] on every other score of their row).
_Group = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
# For pending rows and k: groups of rows worth bisecting, each with j <= k columns.
_TopFn = Callable[[torch.Tensor, int], list[_Group]]


def _entmax_exact(
    m: int,
    width: int,
    top: _TopFn,
    full_rows: Callable[[torch.Tensor], torch.Tensor],
    alpha: float,
    initial_k: int,
    n_iter: int,
    device: torch.device,
    zeros: _ZeroRows | None = None,
) -> SparseWeights:
    """alpha-entmax (alpha > 1) of ``m`` rows of width ``width``, from k scores per row, k growing.

    ``top(rows, k)`` picks the rows whose support k columns may hold (``_support_may_fit``, a filter) and
    gives, in groups, their float32 scores at up to k columns, those columns and a float32 bound on the
    row's other scores;
    ``full_rows(rows)`` gives the complete rows ``[len(rows), width]``. Rows whose
    support the k columns cannot be shown to hold (``_bisect_topk``'s ``exact``) are redone with k x 4,
    and with ``entmax_bisect`` over the full row once k would reach ``width``. All rows still pending are
    processed together per k, never one at a time.
    """
    groups: list[tuple[torch.Tensor, SparseWeights]] = []

    def block(rows: torch.Tensor, packed: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, SparseWeights]:
        counts, columns, values = packed
        indptr = torch.cat([torch.zeros(1, dtype=torch.int64, device=device), torch.cumsum(counts, 0)])
        return rows, SparseWeights(indptr, columns, values, width)

    if zeros is None:
        zeros = _ZeroRows(width, torch.float32, device)
    pending = torch.arange(m, device=device)
    k = min(initial_k, width)
    while pending.numel():
        if k >= width:
            groups.append(block(pending, _full_rows(full_rows(pending), alpha, n_iter)))
            break
        done = torch.zeros(pending.numel(), dtype=torch.bool, device=device)
        for hopeful, top_scores, top_columns, bound in top(pending, k):
            p, exact = _bisect_topk(
                top_scores, top_columns, bound, full_rows, pending[hopeful], width, alpha, n_iter, zeros
            )
            rows_exact = hopeful[exact]
            done[rows_exact] = True
            if rows_exact.numel():
                packed = _pack(top_columns[exact], p[exact], columns_sorted=False)
                groups.append(block(pending[rows_exact], packed))
        pending = pending[~done]
        k = min(k * _K_GROWTH, width)
    return SparseWeights.scatter(groups, m, width, device)


def entmax_rows(scores: torch.Tensor, alpha: float, initial_k: int = 64, n_iter: int = 50) -> SparseWeights:
    """Exact alpha-entmax of every full row of ``scores`` ``[m, V]``, computed on the top k scores.

    ``w_ij = [(alpha - 1) s_ij - tau_i]_+ ** (1 / (alpha - 1))`` with ``sum_j w_ij = 1``; ``alpha = 1`` is
    the softmax ``w_ij = exp(s_ij) / sum_k exp(s_ik)`` (dense: all ``V`` columns kept). Scores are used
    in float32. The result equals ``entmax.entmax_bisect(scores, alpha, dim=-1, n_iter=n_iter)``
    (within ~1e-7 per weight; zeros dropped, each row weight-descending, ties by lower column id).

    Why the top k suffice (alpha > 1). Let ``s_(1) >= ... >= s_(V)`` be a row's sorted scores,
    ``x = (alpha-1) s`` and ``f(tau) = sum_j [x_j - tau]_+ ** (1/(alpha-1)) - 1``. Bisection tries thresholds
    from the bracket ``[max x - 1, max x - V ** (1 - alpha)]`` and keeps ``tau`` when ``f(tau) >= 0``. Run
    it on the top k scores with the bracket of the full width ``V``: ``f_k <= f_V`` (the dropped terms are
    >= 0), and the two are equal at every ``tau >= x_(k+1)``. If the two runs ever branch differently, the
    top-k run rejected a ``tau < x_(k+1)`` and every later ``tau`` it tries is lower, so its last ``tau``
    is ``< x_(k+1)``. Hence, if the last ``tau`` is ``>= x_(k+1)``, both runs tried the same thresholds and
    end on the same ``tau``, and every score outside the top k, being <= ``s_(k+1)``, gets weight 0: the
    top-k result is the full-row result, for any ``n_iter``. The same holds for any k columns with
    ``x_(k+1)`` replaced by a bound on the other scores (what ``iter_entmax_weights`` uses; if the row's
    maximum is not among the k, the last ``tau`` is below it, so the check fails). Rows that fail the
    check are redone with k x 4, and with the full row once k would reach ``V``.

    In float32 the top-k and full-row sums round differently (different order), so at a ``tau`` where
    ``|f|`` is within the summation's rounding bound, ``f`` is recomputed over the full row exactly as
    ``entmax_bisect`` does: the thresholds tried, and so the final ``tau``, are bit-for-bit the reference's.
    (Without this, a branch flipped by rounding moves ``tau`` by an ulp, which at alpha = 4 changes small
    weights by up to ~1e-5.) All rows of a chunk are processed together per k, never one at a time.

    Raises ``ValueError`` for ``alpha < 1``, ``initial_k < 1``, ``n_iter < 1``, non 2-D or zero-width scores,
    and for NaN or +inf scores or rows that are all -inf (a -inf score just gets weight 0).
    """
    _check_alpha(alpha)
    if initial_k < 1:
        raise ValueError(f"initial_k must be >= 1, got {initial_k}.")
    if n_iter < 1:
        raise ValueError(f"n_iter must be >= 1, got {n_iter}.")
    if scores.dim() != 2:
        raise ValueError(f"scores must be a 2-D [rows, columns] tensor, got shape {tuple(scores.shape)}.")
    m, width = scores.shape
    if width == 0:
        raise ValueError("scores must have at least one column, got 0.")
    device = scores.device
    if m == 0:
        return SparseWeights.empty(width, device)
    scores = scores.to(torch.float32)
    # A NaN or +inf anywhere in a row is its maximum (max propagates NaN); -inf scores get weight 0.
    row_max = scores.amax(dim=-1)
    if not bool(torch.isfinite(row_max).all()):
        bad = float(row_max[~torch.isfinite(row_max)][0])
        raise ValueError(f"scores must not contain NaN or +inf or all -inf rows, got a row maximum of {bad}.")

    if alpha == 1:
        columns = torch.arange(width, device=device).expand(m, width)
        counts, flat_columns, values = _pack(columns, torch.softmax(scores, dim=-1), columns_sorted=True)
        indptr = torch.cat([torch.zeros(1, dtype=torch.int64, device=device), torch.cumsum(counts, 0)])
        return SparseWeights(indptr, flat_columns, values, width)

    def top(rows: torch.Tensor, k: int) -> list[_Group]:
        sub = scores if rows.numel() == m else scores.index_select(0, rows)
        # k + 1 scores: the (k+1)-th bounds every score outside the top k.
        top_scores, top_columns = sub.topk(k + 1, dim=-1)
        bound, top_scores, top_columns = top_scores[:, k], top_scores[:, :k], top_columns[:, :k]
        hopeful = _support_may_fit(top_scores, bound, alpha).nonzero().squeeze(-1)
        if not hopeful.numel():
            return []
        return [(hopeful, top_scores[hopeful], top_columns[hopeful], bound[hopeful])]

    return _entmax_exact(
        m, width, top, lambda rows: scores.index_select(0, rows), alpha, initial_k, n_iter, device
    )


class _CandidateScores:
    """The scores of one chunk of target rows against every source row: float32 estimates, exact on demand.

    ``exact(i, j) = fl32(<t_i, e_j>)`` with ``t_i``, ``e_j`` the float64 unit vectors and the dot product
    summed in float64 (``(e * t).sum(-1)``: per pair, the same float64 additions whatever rows or
    columns are asked together, so the exact scores of a pair do not depend on ``chunk_size``).
    ``approx`` is the float32 product of the float32-rounded unit vectors, ``[rows, n_source]``; for unit
    vectors of dimension ``d`` each entry is within ``margin = (d + 4) u (1 + 2 d u)`` of the exact score
    (``u = 2**-24``: rounding the two vectors moves the product by at most ``2u``, a float32 dot product of
    ``d`` terms of absolute sum <= 1 errs by at most ``gamma_d = d u / (1 - d u)``, the float64 product and
    the final rounding by at most ``u`` more).
    """

    def __init__(self, target64: torch.Tensor, source64: torch.Tensor, source32: torch.Tensor) -> None:
        self.target64 = target64
        self.source64 = source64
        self.approx = _float32_product(target64.to(torch.float32), source32)
        d = source64.shape[1]
        self.margin = (d + 4) * _UNIT_ROUNDOFF * (1 + 2 * d * _UNIT_ROUNDOFF) + 1e-12

    def exact_at(self, rows: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
        """``exact(rows[a], columns[a, b])``, float32 ``[len(rows), k]``, in blocks of ~2**22 float64s."""
        out = torch.empty(columns.shape, dtype=torch.float32, device=columns.device)
        k, d = columns.shape[1], self.source64.shape[1]
        step = max(1, (1 << 22) // max(1, k * d))
        for a in range(0, rows.numel(), step):
            block = columns[a : a + step]
            products = self.source64.index_select(0, block.reshape(-1)).view(*block.shape, d)
            products.mul_(self.target64.index_select(0, rows[a : a + step]).unsqueeze(1))
            out[a : a + step] = products.sum(-1)
        return out

    def exact_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """``exact(rows[a], j)`` for every source column ``j``, float32 ``[len(rows), n_source]``."""
        n_source, d = self.source64.shape
        out = torch.empty(rows.numel(), n_source, dtype=torch.float32, device=self.source64.device)
        step = max(1, (1 << 22) // d)
        for a in range(rows.numel()):
            t = self.target64[rows[a]]
            for b in range(0, n_source, step):
                out[a, b : b + step] = (self.source64[b : b + step] * t).sum(-1).to(torch.float32)
        return out

    def top(self, rows: torch.Tensor, k: int, alpha: float) -> list[_Group]:
        """``_TopFn``: for each row, the j columns with the largest estimates, and a float32 bound.

        Every column outside the top j has an estimate ``<=`` the (j+1)-th largest, so an exact score
        ``<=`` that estimate + ``margin``: the bound, rounded up to float32. Each row takes the smallest
        j of ``_widths(k)`` that passes ``_support_may_fit`` on its estimates (rows where none does wait
        for a larger k), and only then gets its j exact scores: one group per j.
        """
        sub = self.approx if rows.numel() == self.approx.shape[0] else self.approx.index_select(0, rows)
        estimates, columns = sub.topk(k + 1, dim=-1)
        bounds = (estimates.double() + self.margin).to(torch.float32)
        bounds = torch.nextafter(bounds, torch.full_like(bounds, math.inf))
        unassigned = torch.ones(rows.numel(), dtype=torch.bool, device=rows.device)
        groups: list[_Group] = []
        for j in _widths(k):
            fits = unassigned & _support_may_fit(estimates[:, :j], bounds[:, j], alpha)
            chosen = fits.nonzero().squeeze(-1)
            if chosen.numel():
                unassigned &= ~fits
                group_columns = columns[chosen, :j]
                exact = self.exact_at(rows[chosen], group_columns)
                groups.append((chosen, exact, group_columns, bounds[chosen, j]))
            if not bool(unassigned.any()):
                break
        return groups


def _widths(k: int) -> list[int]:
    """Candidate counts tried within one k: 4, 8, 16, ... below k, then k."""
    widths, j = [], 4
    while j < k:
        widths.append(j)
        j *= 2
    return [*widths, k]


def _float32_product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b.T`` in IEEE float32 (no TF32 or bfloat16 shortcuts, whose error the margin does not cover)."""
    previous = torch.get_float32_matmul_precision()
    if previous == "highest":
        return a @ b.T
    torch.set_float32_matmul_precision("highest")
    try:
        return a @ b.T
    finally:
        torch.set_float32_matmul_precision(previous)


def iter_entmax_weights(
    target: torch.Tensor,
    source: torch.Tensor,
    alpha: float,
    chunk_size: int = 1024,
    initial_k: int = 64,
    n_iter: int = 50,
    device: torch.device | str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Iterator[tuple[int, SparseWeights]]:
    """SemBridge weights ``w_i = alpha-entmax(cos(t_i, e_.))`` for chunks of target rows.

    Yields ``(start, weights)`` per chunk of ``chunk_size`` target rows; weights come back on ``target``'s
    device, the work runs on ``device`` (default: ``target``'s device). ``progress(rows_in_chunk)`` is
    called after each chunk. Peak memory is about ``chunk_size x n_source`` scores.

    The weights are ``entmax_bisect`` over the rows of ``iter_similarity`` (the reference's scores) to
    ~1e-7, whatever ``chunk_size`` is. For alpha > 1 the full-width product runs in float32 only: each
    row's candidates (its top k float32 estimates) get their exact scores in float64, and
    ``entmax_rows``'s exactness check, with the bound ``(k+1)-th estimate + margin`` on every other exact
    score, tells whether they hold the whole support; rows that fail grow k, as in ``entmax_rows``
    (``_CandidateScores`` gives the margin). For alpha <= ``FLOAT32_MIN_ALPHA`` (2) supports are large
    (hundreds of sources a row at alpha 2, every source at alpha 1): the rows of ``iter_similarity``
    (float64 product) go through ``entmax_rows`` (see ``softmax_combine`` for alpha 1 in bounded memory).
    """
    _check_alpha(alpha)
    if initial_k < 1:
        raise ValueError(f"initial_k must be >= 1, got {initial_k}.")
    if n_iter < 1:
        raise ValueError(f"n_iter must be >= 1, got {n_iter}.")
    if source.dim() == 2 and source.shape[0] == 0:
        raise ValueError("source must have at least one row, got 0.")
    _check_pair(target, source)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}.")
    work = torch.device(device) if device is not None else target.device
    if alpha <= FLOAT32_MIN_ALPHA:
        # Supports of hundreds to thousands of sources per row: rescoring the candidates would cost
        # more than the float64 product itself (measured: alpha 2 1.5x slower, alpha 1.5 far worse).
        chunks = iter_similarity(target, source, chunk_size=chunk_size, device=work)
        return _entmax_chunks(chunks, alpha, initial_k, n_iter, target.device, progress)
    return _candidate_chunks(target, source, alpha, chunk_size, initial_k, n_iter, work, progress)


def _entmax_chunks(
    chunks: Iterator[tuple[int, torch.Tensor]],
    alpha: float,
    initial_k: int,
    n_iter: int,
    home: torch.device,
    progress: Callable[[int], None] | None,
) -> Iterator[tuple[int, SparseWeights]]:
    for start, sim in chunks:
        weights = entmax_rows(sim, alpha, initial_k=initial_k, n_iter=n_iter).to(home)
        del sim
        if progress is not None:
            progress(len(weights))
        yield start, weights


def _candidate_chunks(
    target: torch.Tensor,
    source: torch.Tensor,
    alpha: float,
    chunk_size: int,
    initial_k: int,
    n_iter: int,
    device: torch.device,
    progress: Callable[[int], None] | None,
) -> Iterator[tuple[int, SparseWeights]]:
    source64 = F.normalize(source.to(device=device, dtype=torch.float64), dim=-1)
    source32 = source64.to(torch.float32)
    width = source64.shape[0]
    zeros = _ZeroRows(width, torch.float32, device)
    for start in range(0, target.shape[0], chunk_size):
        chunk = target[start : start + chunk_size].to(device=device, dtype=torch.float64)
        chunk64 = F.normalize(chunk, dim=-1)
        scores = _CandidateScores(chunk64, source64, source32)
        weights = _entmax_exact(
            chunk64.shape[0],
            width,
            functools.partial(scores.top, alpha=alpha),
            scores.exact_rows,
            alpha,
            initial_k,
            n_iter,
            device,
            zeros,
        ).to(target.device)
        del scores
        if progress is not None:
            progress(len(weights))
        yield start, weights


def entmax_weights(target: torch.Tensor, source: torch.Tensor, alpha: float, **kwargs: Any) -> SparseWeights:
    """All rows of ``iter_entmax_weights`` (same keyword arguments) in one ``SparseWeights``."""
    parts = [weights for _, weights in iter_entmax_weights(target, source, alpha, **kwargs)]
    if not parts:
        return SparseWeights.empty(source.shape[0], target.device)
    return SparseWeights.concat(parts)


def combine(weights: SparseWeights, matrix: torch.Tensor) -> torch.Tensor:
    """New rows as convex combinations of source rows: ``out_i = sum_j w_ij M_j`` (``W @ M``).

    ``matrix`` is ``[num_columns, d]`` (-> ``[n_rows, d]``) or ``[num_columns]`` such as an MLM bias
    (-> ``[n_rows]``). Computed as a sparse-CSR x dense product in float32 on ``matrix``'s device and
    returned in ``matrix``'s dtype. The inputs are not modified. A truncated ``weights`` (alpha 1: only
    the largest weights of each row stored) is combined through its ``recombine``, with the full rows.
    """
    if matrix.dim() not in (1, 2):
        raise ValueError(f"matrix must be 1-D or 2-D, got shape {tuple(matrix.shape)}.")
    if matrix.shape[0] != weights.num_columns:
        raise ValueError(
            f"matrix must have {weights.num_columns} rows (the weights' num_columns), got {matrix.shape[0]}."
        )
    if weights.truncated:
        if weights.recombine is None:
            raise ValueError(
                "these weights keep only the largest entries of each row (alpha 1 rows are dense) and "
                "cannot recompute the rest: combine them chunk by chunk with softmax_combine."
            )
        return weights.recombine(matrix)
    dense = matrix.to(torch.float32)
    if dense.dim() == 1:
        dense = dense.unsqueeze(1)
    if len(weights) == 0 or weights.nnz == 0:
        out = torch.zeros(len(weights), dense.shape[1], dtype=torch.float32, device=matrix.device)
    else:
        out = weights.to(matrix.device).to_torch_sparse() @ dense
    if matrix.dim() == 1:
        out = out.squeeze(1)
    return out.to(matrix.dtype)


def softmax_combine(
    target: torch.Tensor,
    source: torch.Tensor,
    matrices: Mapping[str, torch.Tensor],
    keep: int = 100,
    chunk_size: int = 1024,
    device: torch.device | str | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[SparseWeights, dict[str, torch.Tensor]]:
    """alpha = 1 (softmax) weights and the rows they combine, ``chunk_size`` target rows at a time.

    Softmax rows are dense: every source token gets a weight, so ``n_target x n_source`` weights (7.7k x
    29.5k is 226M) must never exist at once. Per chunk, the rows ``w_i = softmax(s_i)`` of
    ``iter_similarity`` (exactly ``entmax_rows(sim, 1)``'s numbers) are combined at once,
    ``out_i = sum_j w_ij M_j`` for every ``M`` of ``matrices`` (``[n_source, d]`` or ``[n_source]``, float32
    on ``device``, returned in ``M``'s dtype on ``M``'s device), and only each row's ``keep`` largest
    weights are kept (``SparseWeights.largest_of_dense``: a truncated matrix whose ``support`` says that
    every row is dense, and whose ``recombine`` redoes this for another matrix, for ``combine``). Peak
    memory is about ``chunk_size x n_source`` scores (float64 then float32) plus the outputs; the result
    does not depend on ``chunk_size`` beyond float32 rounding of the sums.
    """
    if keep < 1:
        raise ValueError(f"keep must be >= 1, got {keep}.")
    n_source = source.shape[0] if source.dim() == 2 else 0
    if source.dim() == 2 and n_source == 0:
        raise ValueError("source must have at least one row, got 0.")
    work = torch.device(device) if device is not None else target.device
    dense: dict[str, torch.Tensor] = {}
    outputs: dict[str, torch.Tensor] = {}
    for name, matrix in matrices.items():
        if matrix.dim() not in (1, 2) or matrix.shape[0] != n_source:
            raise ValueError(
                f"matrix {name!r} must be [{n_source}] or [{n_source}, d] (one row per source row), "
                f"got shape {tuple(matrix.shape)}."
            )
        dense[name] = matrix.to(device=work, dtype=torch.float32).reshape(n_source, -1)
        outputs[name] = torch.empty(
            (target.shape[0], *matrix.shape[1:]), dtype=matrix.dtype, device=matrix.device
        )
    kept: list[SparseWeights] = []
    for start, sim in iter_similarity(target, source, chunk_size=chunk_size, device=work):
        weights = torch.softmax(sim, dim=-1)
        del sim
        stop = start + weights.shape[0]
        for name, matrix in dense.items():
            rows = (weights @ matrix).to(outputs[name].dtype).to(outputs[name].device)
            outputs[name][start:stop] = rows.reshape(outputs[name][start:stop].shape)
        kept.append(SparseWeights.largest_of_dense(weights, keep, n_source).to(target.device))
        del weights
        if progress is not None:
            progress(stop - start)
    if kept:
        weights = SparseWeights.concat(kept)
    else:
        empty = SparseWeights.empty(n_source, target.device)
        weights = SparseWeights(empty.indptr, empty.indices, empty.values, n_source, empty.indptr[1:])

    def recombine(matrix: torch.Tensor) -> torch.Tensor:
        _, rows = softmax_combine(target, source, {"m": matrix}, keep=1, chunk_size=chunk_size, device=device)
        return rows["m"]

    weights.recombine = recombine
    return weights, outputs


def reference_entmax_weights(
    target: torch.Tensor, source: torch.Tensor, alpha: float, n_iter: int = 50
) -> torch.Tensor:
    """The public reference algorithm, one target row at a time; dense float32 ``[n_target, n_source]``.

    For each target row: the cosine to every source row (computed as in ``iter_similarity``), then
    ``entmax_bisect`` over that full row (``softmax`` when ``alpha == 1``). Slow by design: for tests
    and benchmarks of ``entmax_weights``.
    """
    _check_alpha(alpha)
    _check_pair(target, source)
    if n_iter < 1:
        raise ValueError(f"n_iter must be >= 1, got {n_iter}.")
    source_unit = F.normalize(source.to(device=target.device, dtype=torch.float64), dim=-1)
    out = torch.zeros(target.shape[0], source.shape[0], dtype=torch.float32, device=target.device)
    for i in range(target.shape[0]):
        row = F.normalize(target[i : i + 1].to(torch.float64), dim=-1)
        sim = (row @ source_unit.T).to(torch.float32)
        if alpha == 1:
            out[i] = torch.softmax(sim, dim=-1)[0]
        else:
            out[i] = entmax_bisect(sim, alpha, dim=-1, n_iter=n_iter)[0]
    return out
