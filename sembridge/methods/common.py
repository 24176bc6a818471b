"""What the baseline methods share: their options, source-row statistics, Gaussian draws, weights.

The MLM head follows the embedding rows in every method: :func:`joint_source_rows` puts each
source token's ``[embedding | decoder | bias]`` into one vector (the decoder only when untied,
the bias only when present), so the Gaussian baselines draw the three jointly from the moments
of those vectors, and the weighted baselines combine all three with the same weights.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from sembridge.errors import SembridgeError
from sembridge.methods.base import InitContext, Initializer, NewRows, rows_from_weights
from sembridge.methods.options import MethodOption
from sembridge.surgery import MLMParts
from sembridge.vocab import is_candidate_source
from sembridge.weights import SparseWeights

logger = logging.getLogger("sembridge")

STATISTICS_NOTE = "regular source tokens (special tokens and unusedN placeholders left out)"


@dataclass
class MethodResources:
    """Loaded objects some methods need beyond :class:`InitContext`: tokenizers and the source config."""

    source_tokenizer: Any = None
    target_tokenizer: Any = None
    source_config: Any = None


class BaselineInitializer(Initializer):
    """A method configured by ``InitConfig.method_options`` (checked by :mod:`sembridge.methods.options`)."""

    declared_options: ClassVar[tuple[MethodOption, ...]] = ()
    # What the method reads, and one example command, for ``sembridge init --help`` and errors.
    inputs: ClassVar[str] = "nothing beyond the source model"
    example: ClassVar[str] = ""

    def __init__(
        self, options: dict[str, Any] | None = None, resources: MethodResources | None = None
    ) -> None:
        self.settings = self.resolve(options)
        self.resources = resources or MethodResources()

    @classmethod
    def resolve(cls, options: dict[str, Any] | None) -> dict[str, Any]:
        from sembridge.methods.options import check_method_options

        return check_method_options(
            cls.name, options, {cls.name: cls.declared_options}, {cls.name: cls.example}
        )

    def need(self, what: str) -> Any:
        value = getattr(self.resources, what)
        if value is None:
            raise SembridgeError(
                f"method '{self.name}' needs the {what.replace('_', ' ')}",
                hint="pass MethodResources to the initializer (sembridge.methods.create_initializer does it)",
            )
        return value


# ------------------------------------------------------------------------------- source statistics


def statistics_ids(ctx: InitContext) -> torch.Tensor:
    """Ids of the source rows the statistics are taken over: every regular source token.

    Special tokens and BERT's never-trained ``[unusedN]`` rows are left out; a vocabulary with no
    regular token falls back to every row.
    """
    num_rows = ctx.parts.embeddings.shape[0]
    ids = [t.id for t in ctx.source_tokens if is_candidate_source(t) and t.id < num_rows]
    if not ids:
        return torch.arange(num_rows)
    return torch.tensor(ids, dtype=torch.long)


def joint_source_rows(parts: MLMParts, ids: torch.Tensor | None = None) -> torch.Tensor:
    """``[embedding | decoder | bias]`` of the given source ids (all rows if None), float64 [n, D]."""
    pieces = [parts.embeddings]
    if parts.decoder is not None:
        pieces.append(parts.decoder)
    if parts.bias is not None:
        pieces.append(parts.bias[:, None])
    if ids is not None:
        pieces = [p[ids] for p in pieces]
    return torch.cat([p.double() for p in pieces], dim=1)


def split_joint(
    joint: torch.Tensor, parts: MLMParts
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Undo :func:`joint_source_rows`: (embeddings, decoder or None, bias or None) in the parts' dtypes."""
    hidden = parts.embeddings.shape[1]
    embeddings = joint[:, :hidden].to(parts.embeddings.dtype)
    offset = hidden
    decoder = None
    if parts.decoder is not None:
        decoder = joint[:, offset : offset + parts.decoder.shape[1]].to(parts.decoder.dtype)
        offset += parts.decoder.shape[1]
    bias = None if parts.bias is None else joint[:, offset].to(parts.bias.dtype)
    return embeddings, decoder, bias


# Rows handled at a time when reading statistics and drawing (bounds float64 temporaries).
ROW_CHUNK = 4096


def source_mean(parts: MLMParts, ids: torch.Tensor) -> torch.Tensor:
    """Mean of the joint source rows of ``ids`` (float64 [D]), accumulated in chunks of rows."""
    total = None
    for begin in range(0, len(ids), ROW_CHUNK):
        chunk = joint_source_rows(parts, ids[begin : begin + ROW_CHUNK]).sum(0)
        total = chunk if total is None else total + chunk
    if total is None:
        raise ValueError("source statistics need at least one row, got 0.")
    return total / len(ids)


def gaussian_factor(
    parts: MLMParts, ids: torch.Tensor, full_covariance: bool
) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """Mean and a factor ``L`` of the covariance (``L L^T = Sigma``) of the joint source rows of ``ids``.

    Univariate: ``L`` is the vector of per-dimension standard deviations (diagonal covariance).
    Multivariate: ``Sigma = X_c^T X_c / (n - 1)`` is factorised by its symmetric eigendecomposition
    ``Sigma = V diag(lambda) V^T``, ``L = V diag(sqrt(max(lambda, 0)))``: exact for a singular or
    rank-deficient covariance, which a Cholesky factorisation or an inverse would refuse. Both
    passes (mean, then centred second moments) run in float64 over chunks of rows.
    """
    n = len(ids)
    mean = source_mean(parts, ids)
    dim = mean.shape[0]
    if n < 2:
        zeros = torch.zeros(dim, dim, dtype=torch.float64) if full_covariance else torch.zeros_like(mean)
        return mean, zeros, ({"covariance_rank": 0, "covariance_dim": dim} if full_covariance else {})
    scatter = torch.zeros(dim, dim, dtype=torch.float64) if full_covariance else torch.zeros_like(mean)
    for begin in range(0, n, ROW_CHUNK):
        centred = joint_source_rows(parts, ids[begin : begin + ROW_CHUNK]) - mean
        scatter += centred.T @ centred if full_covariance else centred.pow(2).sum(0)
    if not full_covariance:
        return mean, scatter.div(n - 1).sqrt(), {}
    covariance = scatter / (n - 1)
    covariance = (covariance + covariance.T) / 2
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    tolerance = eigenvalues.abs().max().clamp_min(1e-300) * dim * torch.finfo(torch.float64).eps
    rank = int((eigenvalues > tolerance).sum())
    factor = eigenvectors * eigenvalues.clamp_min(0).sqrt()[None, :]
    return mean, factor, {"covariance_rank": rank, "covariance_dim": dim}


def gaussian_draws(
    mean: torch.Tensor, factor: torch.Tensor, count: int, generator: torch.Generator
) -> torch.Tensor:
    """``count`` draws ``mean + L z`` with ``z ~ N(0, I)`` from ``generator`` (float64 [count, D])."""
    z = torch.randn(count, mean.shape[0], generator=generator, dtype=torch.float64)
    if factor.ndim == 1:
        return mean + z * factor
    return mean + z @ factor.T


class JointGaussian:
    """Per-dimension (or full-covariance) Gaussian of the joint source rows, drawn from lazily."""

    def __init__(self, ctx: InitContext, full_covariance: bool = False) -> None:
        self.ctx = ctx
        self.full_covariance = full_covariance
        self.ids = statistics_ids(ctx)
        self._moments: tuple[torch.Tensor, torch.Tensor, dict[str, Any]] | None = None

    def moments(self) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
        if self._moments is None:
            self._moments = gaussian_factor(self.ctx.parts, self.ids, self.full_covariance)
        return self._moments

    def draw(self, count: int) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """``count`` joint draws, split into (embeddings, decoder or None, bias or None) rows."""
        mean, factor, _ = self.moments()
        parts = self.ctx.parts
        embeddings = torch.empty(count, parts.embeddings.shape[1], dtype=parts.embeddings.dtype)
        decoder = (
            None
            if parts.decoder is None
            else torch.empty(count, parts.decoder.shape[1], dtype=parts.decoder.dtype)
        )
        bias = None if parts.bias is None else torch.empty(count, dtype=parts.bias.dtype)
        for begin in range(0, count, ROW_CHUNK):
            rows = gaussian_draws(mean, factor, min(ROW_CHUNK, count - begin), self.ctx.generator)
            e, d, b = split_joint(rows, parts)
            end = begin + rows.shape[0]
            embeddings[begin:end] = e
            if decoder is not None:
                decoder[begin:end] = d
            if bias is not None:
                bias[begin:end] = b
        return embeddings, decoder, bias


# ------------------------------------------------------------------------------- sparse weights


def dense_to_weights(dense: torch.Tensor, column_ids: torch.Tensor, num_columns: int) -> SparseWeights:
    """CSR weights from a dense [rows, m] block whose column j stands for source id ``column_ids[j]``.

    Each row keeps its non-zero entries, largest weight first (ties: lower column first).
    """
    dense = dense.float().cpu()
    values, order = dense.sort(dim=1, descending=True, stable=True)
    counts = (dense > 0).sum(1)
    keep = torch.arange(dense.shape[1])[None, :] < counts[:, None]
    indptr = torch.zeros(dense.shape[0] + 1, dtype=torch.long)
    indptr[1:] = counts.cumsum(0)
    return SparseWeights(indptr, column_ids[order][keep].long(), values[keep], num_columns)


def empty_weights(rows: int, num_columns: int) -> SparseWeights:
    return SparseWeights(
        torch.zeros(rows + 1, dtype=torch.long), torch.zeros(0, dtype=torch.long), torch.zeros(0), num_columns
    )


def concat_rows(
    blocks: list[tuple[torch.Tensor, SparseWeights]], total_rows: int, num_columns: int
) -> SparseWeights:
    """Weight blocks (row positions, weights) as one CSR matrix of ``total_rows`` rows; others stay empty."""
    counts = torch.zeros(total_rows, dtype=torch.long)
    for positions, weights in blocks:
        counts[positions] = weights.indptr[1:] - weights.indptr[:-1]
    indptr = torch.zeros(total_rows + 1, dtype=torch.long)
    indptr[1:] = counts.cumsum(0)
    nnz = int(indptr[-1])
    indices = torch.zeros(nnz, dtype=torch.long)
    values = torch.zeros(nnz, dtype=torch.float32)
    for positions, weights in blocks:
        lengths = weights.indptr[1:] - weights.indptr[:-1]
        starts = indptr[positions]
        # Destination of every stored entry: its row's start plus its rank inside the row.
        row_of_entry = torch.repeat_interleave(torch.arange(len(positions)), lengths)
        rank = torch.arange(len(weights.indices)) - weights.indptr[row_of_entry]
        destination = starts[row_of_entry] + rank
        indices[destination] = weights.indices.long()
        values[destination] = weights.values.float()
    return SparseWeights(indptr, indices, values, num_columns)


def topk_softmax_weights(
    queries: torch.Tensor,
    keys: torch.Tensor,
    key_ids: torch.Tensor,
    top_k: int,
    temperature: float,
    num_columns: int,
    chunk_size: int = 1024,
    device: torch.device | str = "cpu",
) -> tuple[SparseWeights, torch.Tensor]:
    """``softmax(cos / temperature)`` over each query's ``top_k`` most similar keys (OFA, WECHSEL).

    Cosine similarity of every query to every key, in chunks of ``chunk_size`` queries; the top
    ``min(top_k, len(keys))`` keys of each row keep ``exp(s / T) / sum exp(s' / T)``, the others 0.
    Columns are source ids (``key_ids``). Also returns the best cosine of each query.
    """
    k = min(top_k, keys.shape[0])
    keys_n = torch.nn.functional.normalize(keys.float(), dim=1).to(device)
    parts: list[SparseWeights] = []
    best: list[torch.Tensor] = []
    for begin in range(0, queries.shape[0], chunk_size):
        q = torch.nn.functional.normalize(queries[begin : begin + chunk_size].float(), dim=1).to(device)
        sims, cols = (q @ keys_n.T).topk(k, dim=1)  # sorted, largest first
        weights = torch.softmax(sims / temperature, dim=1).cpu()
        ids = key_ids[cols.cpu()]
        counts = torch.full((q.shape[0],), k, dtype=torch.long)
        indptr = torch.zeros(q.shape[0] + 1, dtype=torch.long)
        indptr[1:] = counts.cumsum(0)
        parts.append(SparseWeights(indptr, ids.reshape(-1).long(), weights.reshape(-1).float(), num_columns))
        best.append(sims[:, 0].cpu())
    if not parts:
        return empty_weights(0, num_columns), torch.zeros(0)
    return SparseWeights.concat(parts), torch.cat(best)


def rows_with_gaussian_fallback(
    ctx: InitContext,
    weights: SparseWeights,
    fallback: torch.Tensor,
    weighting: str,
    **info: Any,
) -> NewRows:
    """Weighted rows for the new tokens, and Gaussian draws for the rows at positions ``fallback``.

    ``weights`` has one row per new token; the rows at ``fallback`` (tokens without an auxiliary
    vector) are empty there and get a joint per-dimension Gaussian draw of
    ``[embedding | decoder | bias]`` instead (FOCUS's and WECHSEL's fallback).
    """
    rows = rows_from_weights(weights, ctx.parts, **info)
    gaussian = JointGaussian(ctx)
    if len(fallback):
        embeddings, decoder, bias = gaussian.draw(len(fallback))
        rows.embeddings[fallback] = embeddings
        if rows.decoder is not None and decoder is not None:
            rows.decoder[fallback] = decoder
        if rows.bias is not None and bias is not None:
            rows.bias[fallback] = bias
    rows.unweighted_note = "no auxiliary vector: drawn from the per-dimension Gaussian of the source rows"
    rows.info["random_fallback_rows"] = int(len(fallback))
    rows.info["weighted_rows"] = int(weights.indptr.shape[0] - 1 - len(fallback))
    rows.bias_policy = (
        f"combined with the same {weighting} weights as the embedding rows; the {len(fallback):,} rows "
        "without an auxiliary vector drew their bias jointly with their embedding row from the "
        f"per-dimension Gaussian of the concatenated (embedding, decoder, bias) rows of the {STATISTICS_NOTE}"
    )
    return rows


def neighbour_rows(
    ctx: InitContext,
    source_vectors: torch.Tensor,
    source_has_vector: torch.Tensor,
    target_vectors: torch.Tensor,
    target_has_vector: torch.Tensor,
    top_k: int,
    temperature: float,
    **info: Any,
) -> NewRows:
    """OFA / WECHSEL rows: top-k softmax(cos / T) over the source tokens, in one shared vector space.

    ``source_vectors`` [source vocab, d] and ``target_vectors`` [target vocab, d] are subword
    vectors; ``*_has_vector`` mark the tokens that have one. The neighbours of a new token are the
    regular source tokens (no special, no ``[unusedN]``) with a vector; new tokens without a vector
    get a Gaussian draw.
    """
    num_source = ctx.parts.embeddings.shape[0]
    new_ids = ctx.overlap.new_ids
    candidates = torch.tensor(
        [
            t.id
            for t in ctx.source_tokens
            if is_candidate_source(t) and t.id < len(source_has_vector) and bool(source_has_vector[t.id])
        ],
        dtype=torch.long,
    )
    with_vector = torch.tensor(
        [
            pos
            for pos, tid in enumerate(new_ids)
            if tid < len(target_has_vector) and bool(target_has_vector[tid])
        ],
        dtype=torch.long,
    )
    if len(candidates) == 0:
        logger.warning("no source token has a subword vector: every new row is a Gaussian draw")
        with_vector = with_vector[:0]
    logger.info(
        "source tokens with a subword vector: %s; new tokens with one: %s of %s",
        f"{len(candidates):,}",
        f"{len(with_vector):,}",
        f"{len(new_ids):,}",
    )
    fallback_mask = torch.ones(len(new_ids), dtype=torch.bool)
    fallback_mask[with_vector] = False
    fallback = fallback_mask.nonzero().flatten()
    if len(with_vector):
        query_ids = torch.tensor(new_ids, dtype=torch.long)[with_vector]
        found, best = topk_softmax_weights(
            target_vectors[query_ids],
            source_vectors[candidates],
            candidates,
            top_k,
            temperature,
            num_source,
            chunk_size=ctx.config.chunk_size,
            device=ctx.device,
        )
        weights = concat_rows([(with_vector, found)], len(new_ids), num_source)
        info["mean_best_cosine"] = round(float(best.mean()), 4)
    else:
        weights = empty_weights(len(new_ids), num_source)
    info.update(top_k=top_k, temperature=temperature, source_tokens_with_vector=int(len(candidates)))
    return rows_with_gaussian_fallback(
        ctx, weights, fallback, f"top-{top_k} softmax(cos / {temperature:g})", **info
    )
