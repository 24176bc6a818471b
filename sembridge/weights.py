"""Similarity in chunks, exact top-k alpha-entmax weights, and convex combinations (METHOD.md steps 4-6).

For every new target token ``i`` and every source token ``j``:

* similarity (step 4):  ``s_ij = <t_i, e_j> / (||t_i|| ||e_j||)`` over ALL source tokens;
* weights (step 5):     ``w_i = alpha-entmax(s_i)``, i.e.
  ``w_ij = [(alpha - 1) s_ij - tau_i]_+ ** (1 / (alpha - 1))`` with ``tau_i`` such that ``sum_j w_ij = 1``
  (``alpha = 1`` is the softmax ``w_ij = exp(s_ij) / sum_k exp(s_ik)``);
* combination (step 6): ``E'_i = sum_j w_ij E_j``, a convex combination of source rows.

``entmax_rows`` gives the same numbers as ``entmax.entmax_bisect`` over the full row but only
bisects the top-k scores of each row (see its docstring for why that is exact);
``reference_entmax_weights`` is the plain row-at-a-time algorithm, kept for tests and benchmarks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from entmax import entmax_bisect

from sembridge.sparse_weights import SparseWeights

__all__ = [
    "combine",
    "entmax_rows",
    "entmax_weights",
    "iter_entmax_weights",
    "iter_similarity",
    "reference_entmax_weights",
]

# Growth factor of k for rows whose support filled the top k.
_K_GROWTH = 4
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


def _bisect_topk(
    top_scores: torch.Tensor,
    top_columns: torch.Tensor,
    next_scores: torch.Tensor,
    scores: torch.Tensor,
    rows: torch.Tensor,
    alpha: float,
    n_iter: int,
) -> torch.Tensor:
    """``entmax_bisect``'s forward pass over full rows, evaluated on their top-k scores.

    ``top_scores[a]`` ``[r, k]`` holds the k largest scores of the full row ``scores[rows[a]]`` (``scores`` is
    ``[m, V]``). The float32 operations are those of ``entmax.root_finding.EntmaxBisectFunction.forward``:
    ``x = (alpha-1) s``; bracket ``tau in [max x - 1, max x - V ** (1 - alpha)]`` (the full width ``V``, so
    the thresholds tried are the full row's); ``n_iter`` halvings keeping ``tau`` when
    ``f(tau) = sum_j [x_j - tau]_+ ** (1/(alpha-1)) - 1 >= 0``; then ``p = [x - tau]_+ ** (1/(alpha-1))``
    divided by its sum.

    The top-k ``f`` is a float32 sum in another order than the full row's. Where ``|f(tau)|`` is within
    the rounding bound ``2 (log2(n + 1) + 2) u S`` (``n`` positive terms summing to ``S``, ``u = 2**-24``) the
    two might branch differently, so there ``f`` is recomputed over the full row exactly as
    ``entmax_bisect`` computes it (cached per row: near convergence the same ``tau`` recurs). Elsewhere
    the signs agree. Once ``tau_lo + dm == tau_lo`` in every row the remaining halvings cannot change
    anything, so the loop stops early with the same result.

    The full-row recomputation is cheap when ``tau`` is at or above ``x_(k+1)`` (``next_scores`` holds
    each row's (k+1)-th largest score): every term outside the top k is then exactly 0, so the full row's
    terms are the top-k terms (the same float32 operations on the same numbers) scattered into zeros at
    their columns (``top_columns``), and the full-width float32 sum of that row is ``entmax_bisect``'s sum
    bit for bit, without raising 30k numbers to a power. Only rows with ``tau < x_(k+1)`` recompute
    every term.

    Returns ``p`` ``[r, k]`` at the last threshold tried, divided by its sum.
    """
    n_rows = top_scores.shape[0]
    alpha_t = torch.tensor(alpha, dtype=top_scores.dtype, device=top_scores.device).expand(n_rows, 1)
    max_val, _ = top_scores.max(dim=-1, keepdim=True)
    x = top_scores * (alpha_t - 1)
    x_next = next_scores.reshape(n_rows, 1) * (alpha_t - 1)
    width = scores.shape[1]
    max_val = max_val * (alpha_t - 1)
    tau_lo = max_val - 1 ** (alpha_t - 1)
    tau_hi = max_val - (1 / width) ** (alpha_t - 1)
    dm = tau_hi - tau_lo
    inv = 1 / (alpha_t - 1)
    cached_tau = torch.full_like(dm, math.nan)
    cached_f = torch.zeros_like(dm)
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
                outside_zero = tau_m[need] >= x_next[need]
                cheap, costly = need[outside_zero.squeeze(-1)], need[~outside_zero.squeeze(-1)]
                if cheap.numel():
                    p_full = torch.zeros(cheap.numel(), width, dtype=p_m.dtype, device=p_m.device)
                    p_full.scatter_(1, top_columns[cheap], p_m[cheap])
                    cached_f[cheap] = p_full.sum(-1, keepdim=True) - 1
                if costly.numel():
                    x_full = scores.index_select(0, rows[costly]) * (alpha_t[costly] - 1)
                    p_full = torch.clamp(x_full - tau_m[costly], min=0) ** inv[costly]
                    cached_f[costly] = p_full.sum(-1, keepdim=True) - 1
                cached_tau[need] = tau_m[need]
            f_m = torch.where(close, cached_f, f_m)
        converged = bool((tau_m == tau_lo).all())
        tau_lo = torch.where(f_m >= 0, tau_m, tau_lo)
        if converged:
            break
    # Normalised in float64 so that the result does not depend on k (the summation order); entmax_bisect
    # divides by a float32 sum, which differs by at most an ulp.
    return (p_m.double() / p_m.sum(dim=-1, keepdim=True, dtype=torch.float64)).float()


def _support_may_fit(top_scores: torch.Tensor, alpha: float) -> torch.Tensor:
    """Rows whose support can be smaller than k: ``f(x_(k)) > 0`` over the top k, i.e. ``tau > x_(k)``.

    Only a filter that saves bisecting rows that certainly need a larger k; exactness is decided later.
    """
    alpha_t = torch.tensor(alpha, dtype=top_scores.dtype, device=top_scores.device)
    x = top_scores * (alpha_t - 1)
    mass = (torch.clamp(x - x[:, -1:], min=0) ** (1 / (alpha_t - 1))).sum(-1)
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
    top-k run rejected a ``tau < x_(k+1)`` and every later ``tau`` it tries is lower, so its k-th weight
    ends > 0. Hence, if the k-th weight ends at 0 (support < k), both runs tried the same thresholds and
    end on the same ``tau``, and every score outside the top k, being <= ``s_(k)``, gets weight 0 too: the
    top-k result is the full-row result, for any ``n_iter``. Rows whose support reaches k are redone with
    k x 4, and with the full row once k would reach ``V``.

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

    groups: list[tuple[torch.Tensor, SparseWeights]] = []

    def block(rows: torch.Tensor, packed: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, SparseWeights]:
        counts, columns, values = packed
        indptr = torch.cat([torch.zeros(1, dtype=torch.int64, device=device), torch.cumsum(counts, 0)])
        return rows, SparseWeights(indptr, columns, values, width)

    if alpha == 1:
        columns = torch.arange(width, device=device).expand(m, width)
        packed = _pack(columns, torch.softmax(scores, dim=-1), columns_sorted=True)
        groups.append(block(torch.arange(m, device=device), packed))
    else:
        pending = torch.arange(m, device=device)
        k = min(initial_k, width)
        while pending.numel():
            sub = scores if pending.numel() == m else scores.index_select(0, pending)
            if k >= width:
                groups.append(block(pending, _full_rows(sub, alpha, n_iter)))
                break
            # k + 1 scores: the (k+1)-th tells when every score outside the top k has weight 0.
            top_scores, top_columns = sub.topk(k + 1, dim=-1)
            next_scores = top_scores[:, k]
            top_scores, top_columns = top_scores[:, :k], top_columns[:, :k]
            hopeful = _support_may_fit(top_scores, alpha).nonzero().squeeze(-1)
            done = torch.zeros(pending.numel(), dtype=torch.bool, device=device)
            if hopeful.numel():
                p = _bisect_topk(
                    top_scores[hopeful],
                    top_columns[hopeful],
                    next_scores[hopeful],
                    scores,
                    pending[hopeful],
                    alpha,
                    n_iter,
                )
                # Exact when the k-th largest score got weight 0 (support < k).
                exact = p[:, -1] == 0
                rows_exact = hopeful[exact]
                done[rows_exact] = True
                if rows_exact.numel():
                    p = p[exact]
                    width_used = int(torch.count_nonzero(p, dim=-1).max())
                    columns = top_columns[rows_exact, :width_used]
                    packed = _pack(columns, p[:, :width_used], columns_sorted=False)
                    groups.append(block(pending[rows_exact], packed))
            del sub, top_scores, top_columns
            pending = pending[~done]
            k = min(k * _K_GROWTH, width)

    return SparseWeights.scatter(groups, m, width, device)


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

    Yields ``(start, weights)`` per chunk of ``chunk_size`` target rows (``iter_similarity`` then
    ``entmax_rows``); weights come back on ``target``'s device, the work runs on ``device`` (default:
    ``target``'s device). ``progress(rows_in_chunk)`` is called after each chunk. Peak memory is about
    ``chunk_size x n_source`` scores.
    """
    _check_alpha(alpha)
    if initial_k < 1:
        raise ValueError(f"initial_k must be >= 1, got {initial_k}.")
    if n_iter < 1:
        raise ValueError(f"n_iter must be >= 1, got {n_iter}.")
    if source.dim() == 2 and source.shape[0] == 0:
        raise ValueError("source must have at least one row, got 0.")
    chunks = iter_similarity(target, source, chunk_size=chunk_size, device=device)
    return _entmax_chunks(chunks, alpha, initial_k, n_iter, target.device, progress)


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
    returned in ``matrix``'s dtype. The inputs are not modified.
    """
    if matrix.dim() not in (1, 2):
        raise ValueError(f"matrix must be 1-D or 2-D, got shape {tuple(matrix.shape)}.")
    if matrix.shape[0] != weights.num_columns:
        raise ValueError(
            f"matrix must have {weights.num_columns} rows (the weights' num_columns), got {matrix.shape[0]}."
        )
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
