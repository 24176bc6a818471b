"""Alignment to the English source on parallel text (``sembridge align``).

MILCO's sparse alignment stage, done with the model's own English ancestor. For parallel pairs
``(e_i, t_i)`` (an English string and its translation), the frozen English teacher ``T`` (by
default the source the model was initialised from, as its ``sembridge_init.json`` records it)
encodes every ``e_i`` once, before training; the vectors are cached. The student ``S`` (the
adapted model) encodes both sides. On the columns ``C`` the two vocabularies share (every source
id of an ``--extend`` model; otherwise the tokens whose text both vocabularies hold):

    mse:  L_i = ||S(t_i)_C - T(e_i)||^2 + w ||S(e_i)_C - T(e_i)||^2
    kl:   L_i = KL(p(T(e_i)) || p(S(t_i)_C)) + w KL(p(T(e_i)) || p(S(e_i)_C))

averaged over the batch, with ``p(v) = (v + eps) / ||v + eps||_1`` (SPLADE vectors are
non-negative, so each is a distribution over the shared columns; ``eps`` = 1e-6 keeps an empty
vector defined). The first term pulls the target sentence towards the
teacher's vector of its English translation; the second, weighted by ``w`` (``english_weight``),
keeps the student's English where the teacher has it (an extended model starts there bit for
bit). With ``keep_weight`` ``k`` > 0, a third term keeps each translation's vector on the
columns ``N`` the teacher lacks (the target-language pieces) where the model had it before
alignment, ``S0`` (encoded once, before training):

    k ||S(t_i)_N - S0(t_i)_N||^2     (kl: k KL(p(S0(t_i)_N) || p(S(t_i)_N)))

Without it the first term and the FLOPs term take weight from the target-language pieces that
monolingual queries match; with it the alignment is pushed to add English terms to a
translation rather than trade its own for them (how far it gets: docs/results.md).

sentence-transformers' ``SparseMSELoss`` is the same recipe for students that share the
teacher's vocabulary; here the student's vocabulary is larger (or different), so the loss reads
the shared columns only. It runs inside ``SpladeLoss`` with the two FLOPs terms (target side as
the query, English side as the document) and trains with :func:`~sembridge.training.finetune`'s
trainer, so batches, schedule, checkpoints and reports are the fine-tuning ones.

With monolingual ``pairs`` beside the parallel text, the two are trained together, as MILCO
mixes its alignment with contrastive training: every batch is drawn from one of the sets, in
proportion to their sizes (sentence-transformers' multi-dataset training), the parallel batches
with the alignment loss and the pairs' batches with ``finetune``'s InfoNCE (in-batch negatives,
and the mined ones a pairs file holds), each inside ``SpladeLoss`` with the same FLOPs weights.
Several named pairs sets (one a language) are kept apart the same way: each batch holds one
set's pairs, so a query's in-batch negatives are in its own language.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from sembridge.errors import SembridgeError, UsageError
from sembridge.training.config import ALIGN, ALIGN_LOSSES, AlignOptions, FinetuneConfig

if TYPE_CHECKING:
    from datasets import Dataset
    from sentence_transformers import SparseEncoder

    from sembridge.training.config import FinetuneResult

logger = logging.getLogger("sembridge")

__all__ = [
    "ALIGN",
    "ALIGN_LOSSES",
    "AlignOptions",
    "SparseAlignLoss",
    "TeacherVectors",
    "align",
    "read_parallel",
    "shared_columns",
    "teacher_vectors",
]

FORMAT = 1  # of the cached teacher vectors
SMOOTHING = 1e-6  # added to every column before kl normalises a vector


def read_parallel(source: str | Path, options: AlignOptions | None = None) -> list[tuple[str, str]]:
    """The (English, translation) pairs of a JSONL/JSON/CSV/TSV/Parquet file or folder.

    Records whose two fields are equal, or either empty, are skipped (a string left
    untranslated teaches nothing); a record without the fields is an error naming its place.
    """
    from sembridge.data.readers import read_source

    options = options or AlignOptions()
    english, target = options.english_column, options.target_column
    pairs: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    skipped = 0
    for where, record in read_source(source):
        if not isinstance(record, dict):
            raise SembridgeError(
                f"{where}: a parallel record must be an object with '{english}' and '{target}'"
            )
        missing = [name for name in (english, target) if name not in record]
        if missing:
            fields = ", ".join(sorted(map(str, record))) or "none"
            raise SembridgeError(
                f"{where}: no field '{missing[0]}' (fields: {fields})",
                hint="name the fields with --english-column and --target-column",
            )
        pair = (record[english], record[target])
        if not all(isinstance(text, str) for text in pair):
            raise SembridgeError(f"{where}: '{english}' and '{target}' must be text")
        pair = (pair[0].strip(), pair[1].strip())
        if not pair[0] or not pair[1] or pair[0] == pair[1] or pair in seen:
            skipped += 1
            continue
        seen.add(pair)
        pairs.append(pair)
    if not pairs:
        raise SembridgeError(
            f"'{source}' holds no parallel pairs", hint=f"give records with {english}, {target}"
        )
    if skipped:
        logger.info(
            "parallel text: %s pairs, %s skipped (empty, untranslated or repeated)", len(pairs), skipped
        )
    return pairs


def shared_columns(student_tokenizer: Any, teacher_tokenizer: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``(student_ids, teacher_ids)``: the vocabulary entries both tokenizers hold, by their text.

    For a model built with ``--extend`` from the teacher this is every teacher id, at the same id.
    """
    student_vocab = student_tokenizer.get_vocab()
    pairs = sorted(
        (student_vocab[token], teacher_id)
        for token, teacher_id in teacher_tokenizer.get_vocab().items()
        if token in student_vocab
    )
    if not pairs:
        raise SembridgeError(
            "the model and the teacher share no vocabulary entry",
            hint="align a model built from this teacher (sembridge init --extend keeps its vocabulary)",
        )
    student_ids, teacher_ids = zip(*pairs, strict=True)
    return torch.tensor(student_ids), torch.tensor(teacher_ids)


@dataclass
class TeacherVectors:
    """The teacher's sparse vectors of the English side, row ``i`` for pair ``i``, padded:
    ``ids[i, :k]`` and ``values[i, :k]`` hold row i's active columns (teacher ids) and values."""

    ids: torch.Tensor
    values: torch.Tensor
    size: int  # the teacher's vocabulary

    def dense(self, rows: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
        """The vectors of ``rows`` on the teacher ``columns`` (a ``len(rows) x len(columns)`` tensor)."""
        full = torch.zeros(len(rows), self.size, dtype=self.values.dtype, device=self.values.device)
        full.scatter_add_(1, self.ids[rows], self.values[rows])
        return full[:, columns]

    @property
    def mean_active(self) -> float:
        return float((self.values > 0).sum(1).float().mean()) if len(self.values) else 0.0


def teacher_vectors(
    teacher: SparseEncoder,
    texts: Sequence[str],
    *,
    name: str,
    batch_size: int = 32,
    cache_dir: str | Path | None = None,
    show_progress: bool = True,
    cache: bool = True,
) -> TeacherVectors:
    """A frozen encoder's vectors of ``texts`` (the teacher's, or the model's own before
    alignment), encoded once and cached by a SHA-256 of the texts and ``name`` (``cache=False``:
    neither read nor written, for a model whose name does not say its weights)."""
    from sembridge.cache import default_cache_dir, hash_texts
    from sembridge.io import atomic_file

    digest = hashlib.sha256(json.dumps([FORMAT, name, teacher.get_max_seq_length()]).encode())
    hash_texts(digest, texts)
    cached = Path(cache_dir or default_cache_dir()) / "align" / f"{digest.hexdigest()[:32]}.pt"
    if cache and cached.is_file():
        saved = torch.load(cached, weights_only=True)
        logger.info("teacher vectors found in the cache (%s)", cached)
        return TeacherVectors(saved["ids"], saved["values"], int(saved["size"]))
    size = 0
    rows: list[tuple[torch.Tensor, torch.Tensor]] = []
    step = max(batch_size * 32, 1)
    for start in range(0, len(texts), step):
        embeddings = teacher.encode(
            list(texts[start : start + step]),
            batch_size=batch_size,
            convert_to_tensor=True,
            convert_to_sparse_tensor=True,
            show_progress_bar=show_progress,
        )
        dense = embeddings.to_dense().float().cpu()
        size = dense.shape[1]
        for row in dense:
            active = row.nonzero().flatten()
            rows.append((active, row[active]))
    width = max((len(ids) for ids, _ in rows), default=0)
    ids = torch.zeros(len(rows), max(width, 1), dtype=torch.long)
    values = torch.zeros(len(rows), max(width, 1))
    for index, (active, weights) in enumerate(rows):
        ids[index, : len(active)] = active
        values[index, : len(active)] = weights
    vectors = TeacherVectors(ids, values, size)
    if cache:
        with atomic_file(cached, "wb") as handle:
            torch.save({"ids": ids, "values": values, "size": size}, handle)
    return vectors


class SparseAlignLoss(nn.Module):
    """The alignment term of the module docstring, for ``SpladeLoss`` (``compute_loss_from_embeddings``).

    Each batch holds the target texts (column 0), their English texts (column 1) and, as labels,
    each pair's row in ``vectors`` (and in ``start``: the model's own vectors of the target texts
    before alignment, read on ``keep_columns`` by the ``keep_weight`` term).
    """

    def __init__(
        self,
        model: SparseEncoder,
        vectors: TeacherVectors,
        student_columns: torch.Tensor,
        teacher_columns: torch.Tensor,
        kind: str = "mse",
        english_weight: float = 1.0,
        *,
        start: TeacherVectors | None = None,
        keep_columns: torch.Tensor | None = None,
        keep_weight: float = 0.0,
    ) -> None:
        super().__init__()
        if keep_weight and (start is None or keep_columns is None):
            raise SembridgeError("keep_weight needs the model's starting vectors and the columns to keep")
        if kind not in ALIGN_LOSSES:
            raise UsageError(f"--align-loss must be one of {', '.join(ALIGN_LOSSES)}, got {kind!r}")
        self.model = model
        self.vectors = vectors
        self.kind = kind
        self.english_weight = float(english_weight)
        self.keep_weight = float(keep_weight)
        self.start = start
        if keep_columns is not None:
            self.register_buffer("keep_columns", keep_columns.long(), persistent=False)
        self.register_buffer("student_columns", student_columns.long(), persistent=False)
        self.register_buffer("teacher_columns", teacher_columns.long(), persistent=False)

    def _term(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        if self.kind == "mse":
            return (student - teacher).pow(2).sum(1).mean()
        # Both smoothed alike, so that equal vectors give exactly 0 and an empty one stays defined.
        p = (teacher + SMOOTHING) / (teacher + SMOOTHING).sum(1, keepdim=True)
        q = (student + SMOOTHING) / (student + SMOOTHING).sum(1, keepdim=True)
        return (p * (torch.log(p) - torch.log(q))).sum(1).mean()

    def compute_loss_from_embeddings(self, embeddings: list[torch.Tensor], labels: torch.Tensor) -> Any:
        if labels is None:
            raise SembridgeError("the alignment loss needs each pair's row (a 'label' column)")
        rows = labels.long().cpu()
        teacher = self.vectors.dense(rows, self.teacher_columns.cpu()).to(embeddings[0].device)
        columns = self.student_columns.to(embeddings[0].device)
        parts = {"target_loss": self._term(embeddings[0].index_select(1, columns), teacher)}
        if self.english_weight and len(embeddings) > 1:
            english = self._term(embeddings[1].index_select(1, columns), teacher)
            parts["english_loss"] = self.english_weight * english
        if self.keep_weight:
            assert self.start is not None  # __init__ checks
            kept = self.keep_columns.to(embeddings[0].device)
            start = self.start.dense(rows, self.keep_columns.cpu()).to(embeddings[0].device)
            parts["keep_loss"] = self.keep_weight * self._term(embeddings[0].index_select(1, kept), start)
        return parts if len(parts) > 1 else parts["target_loss"]

    def forward(self, sentence_features: list[dict[str, torch.Tensor]], labels: torch.Tensor) -> Any:
        embeddings = [self.model(features)["sentence_embedding"] for features in sentence_features]
        loss = self.compute_loss_from_embeddings(embeddings, labels)
        return sum(loss.values()) if isinstance(loss, dict) else loss

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "english_weight": self.english_weight,
            "keep_weight": self.keep_weight,
            "columns": len(self.student_columns),
        }


def _default_teacher(model: Any) -> str:
    """The source ``model`` was initialised from, as its ``sembridge_init.json`` records it."""
    from sembridge.training.teacher import recorded_settings

    report, settings = recorded_settings(
        model, "align's default teacher is the source the model was initialised from", "give --teacher"
    )
    teacher = settings.get("source_resolved") or settings.get("source")
    if not teacher:
        raise SembridgeError(f"{report} records no source", hint="give --teacher")
    return str(teacher)


def align(
    model: str | Path,
    parallel: str | Path | Sequence[tuple[str, str]],
    output_dir: str | Path,
    config: FinetuneConfig | None = None,
    options: AlignOptions | None = None,
    *,
    pairs: Dataset | str | Path | Mapping[str, Dataset | str | Path] | None = None,
    eval_data: Dataset | str | Path | None = None,
    callbacks: Sequence[Any] = (),
) -> FinetuneResult:
    """Align ``model`` to its English teacher on ``parallel`` (module docstring); write ``output_dir``.

    Args:
        model: the adapted model's folder (as ``sembridge init`` writes it), or a hub id with
            ``options.teacher`` given.
        parallel: a file or folder of records with ``options.english_column`` and
            ``options.target_column`` (:func:`read_parallel`), or (English, translation) pairs.
        config: the fine-tuning settings (:class:`~sembridge.training.FinetuneConfig`: steps,
            batch, learning rate, FLOPs weights, checkpoints); ``config.loss`` is not used.
        options: the teacher, the loss and its English weight, the parallel fields.
        pairs: optional monolingual query-positive pairs (a Dataset, or what
            :func:`~sembridge.data.load_pairs` reads), trained with InfoNCE + FLOPs beside the
            alignment (module docstring); or a dict of named ones (one a language, say), each
            batch drawn from one of them.
        eval_data: optional evaluation pairs, as :func:`~sembridge.training.finetune` takes them.

    The output is a model folder like ``finetune``'s; its ``sembridge_finetune.json`` names the
    loss (``SpladeLoss(SparseAlignLoss)``; with ``pairs``, ``align: SpladeLoss(SparseAlignLoss),
    pairs: SpladeLoss(SparseMultipleNegativesRankingLoss)``; with named sets, ``pairs-<name>: ...``
    for each).
    """
    from datasets import Dataset

    from sembridge.data import load_pairs, validate_pairs
    from sembridge.device import resolve_device
    from sembridge.io import check_output_dir
    from sembridge.loading import load_sparse_encoder, load_tokenizer
    from sembridge.training.losses import build_loss, check_loss_settings
    from sembridge.training.trainer import finetune

    config = config or FinetuneConfig()
    options = options or AlignOptions()
    unused = {
        "--loss": config.loss != "infonce",
        "--teacher": config.teacher is not None,
        "--cached": config.cached,
        "--paragraph-groups": config.paragraph_groups,
    }
    for name, given in unused.items():
        if given:
            raise UsageError(
                f"align trains with its own loss; {name} is finetune's and does not apply",
                hint="leave it out (the English teacher is AlignOptions.teacher)",
            )
    check_loss_settings(config.query_reg, config.doc_reg, config.temperature)
    named = _named_pairs(pairs)
    inputs = {
        "model": model,
        "parallel text": parallel if isinstance(parallel, (str, Path)) else None,
        **{name.replace("-", " ", 1): part for name, part in named.items() if isinstance(part, (str, Path))},
    }
    check_output_dir(output_dir, config.overwrite, inputs)  # before the teacher encodes anything
    monolingual = {
        name: load_pairs(part) if isinstance(part, (str, Path)) else validate_pairs(part, name)
        for name, part in named.items()
    }
    pairs = (
        read_parallel(parallel, options)
        if isinstance(parallel, (str, Path))
        else [(e, t) for e, t in parallel]
    )
    if not pairs:
        raise SembridgeError("no parallel pairs to align on", hint="give (English, translation) pairs")
    teacher_name = options.teacher or _default_teacher(model)
    student_tokenizer = load_tokenizer(model, kind="tokenizer of model")
    teacher = load_sparse_encoder(teacher_name, str(resolve_device(config.device)), require_splade=True)
    if config.document_length is not None:
        teacher.max_seq_length = config.document_length
    student_ids, teacher_ids = shared_columns(student_tokenizer, teacher.tokenizer)
    logger.info(
        "alignment: %s pairs, teacher %s, %s shared columns",
        f"{len(pairs):,}",
        teacher_name,
        f"{len(student_ids):,}",
    )
    vectors = teacher_vectors(
        teacher,
        [english for english, _ in pairs],
        name=str(teacher_name),
        batch_size=config.batch_size,
        show_progress=config.show_progress,
    )
    del teacher
    logger.info("teacher vectors: %.1f active terms on average", vectors.mean_active)
    start, keep_columns = None, None
    if options.keep_weight:  # the model's own vectors of the translations, before it moves
        student = load_sparse_encoder(model, str(resolve_device(config.device)), require_splade=True)
        student.max_seq_length = config.query_length  # as the trainer cuts the target side
        start = teacher_vectors(
            student,
            [target for _, target in pairs],
            name=str(model),
            batch_size=config.batch_size,
            show_progress=config.show_progress,
            cache=False,
        )
        del student
        keep = torch.ones(start.size, dtype=torch.bool)  # the model's output columns
        keep[student_ids] = False
        keep_columns = keep.nonzero().flatten()
    dataset = Dataset.from_dict(
        {
            "query": [target for _, target in pairs],
            "positive": [english for english, _ in pairs],
            "label": list(range(len(pairs))),
        }
    )

    def loss(encoder: SparseEncoder) -> nn.Module:
        from sentence_transformers.sparse_encoder.losses import SpladeLoss

        base = SparseAlignLoss(
            encoder, vectors, student_ids, teacher_ids, options.kind, options.english_weight,
            start=start, keep_columns=keep_columns, keep_weight=options.keep_weight,
        )  # fmt: skip
        return SpladeLoss(
            encoder,
            loss=base,
            document_regularizer_weight=config.doc_reg,
            query_regularizer_weight=config.query_reg,
        )

    if not monolingual:
        return finetune(
            model, dataset, output_dir, config, eval_data=eval_data, callbacks=callbacks, loss=loss
        )

    def contrastive(encoder: SparseEncoder) -> nn.Module:  # finetune's own InfoNCE + FLOPs
        return build_loss(encoder, config.query_reg, config.doc_reg, config.temperature)

    return finetune(
        model,
        {"align": dataset, **monolingual},
        output_dir,
        config,
        eval_data=eval_data,
        callbacks=callbacks,
        loss={"align": loss, **{name: contrastive for name in monolingual}},
    )


def _named_pairs(pairs: Any) -> dict[str, Any]:
    """``align``'s ``pairs`` as named training sets: ``{"pairs": pairs}`` for one set,
    ``{"pairs-<name>": ...}`` for each of a dict's, ``{}`` for none."""
    if pairs is None:
        return {}
    if not isinstance(pairs, Mapping):
        return {"pairs": pairs}
    if not pairs:
        raise UsageError("pairs is an empty dict of datasets", hint="give at least one, or None")
    if any(not str(name) for name in pairs):
        raise UsageError("pairs has a set with an empty name", hint="name each, say {'ru': ..., 'zh': ...}")
    return {f"pairs-{name}": part for name, part in pairs.items()}
