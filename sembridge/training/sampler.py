"""Batches whose in-batch negatives are real negatives: no text twice, and no two pairs whose
positives share a paragraph.

InfoNCE takes every other document of a batch as a negative of each query. Pages that repeat a
paragraph (a help system's boilerplate, a dictionary's shared sense) make two pairs' positives
near-copies: in one batch, each would be the other's false negative. sentence-transformers'
``NO_DUPLICATES`` sampler only keeps exact repeats apart; this sampler also keeps apart the pairs
of one paragraph group (:func:`sembridge.data.paragraph_groups`: positives linked by a shared
paragraph, transitively).

Each epoch shuffles the rows with the run's seed and the epoch number, then fills batches in
that order, deferring a row whose texts or group are already in the batch to a later batch. A
group larger than the number of batches leaves its surplus rows to small final batches (a batch
is never padded with a row that breaks the rule).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from sentence_transformers.base.sampler import DefaultBatchSampler

from sembridge.data.pairs import SCORES_COLUMN

__all__ = ["ParagraphGroupBatchSampler", "paragraph_group_sampler"]


class ParagraphGroupBatchSampler(DefaultBatchSampler):
    """Shuffled batches with no repeated text and at most one pair of each paragraph group."""

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        drop_last: bool,
        valid_label_columns: list[str] | None = None,
        generator: torch.Generator | None = None,
        seed: int = 0,
        groups: Sequence[int] = (),
    ) -> None:
        super().__init__(dataset, batch_size, drop_last, valid_label_columns, generator, seed)
        if len(groups) != len(dataset):
            raise ValueError(f"groups must hold one group per row: {len(groups)} for {len(dataset)} rows")
        self.groups = list(groups)
        text_columns = [
            c for c in dataset.column_names if c != SCORES_COLUMN and c not in (valid_label_columns or [])
        ]
        columns = [dataset[c] for c in text_columns]  # each column read once
        self.texts = [frozenset(str(column[i]) for column in columns) for i in range(len(dataset))]
        self._length = sum(1 for _ in self._batches(0))

    def _batches(self, epoch: int) -> Iterator[list[int]]:
        order = torch.randperm(
            len(self.groups), generator=torch.Generator().manual_seed(self.seed + epoch)
        ).tolist()
        while order:
            batch: list[int] = []
            texts: set[str] = set()
            groups: set[int] = set()
            later: list[int] = []
            for index in order:
                if len(batch) == self.batch_size or self.groups[index] in groups or texts & self.texts[index]:
                    later.append(index)
                    continue
                batch.append(index)
                groups.add(self.groups[index])
                texts |= self.texts[index]
            if len(batch) < self.batch_size and self.drop_last:
                return
            yield batch
            order = later

    def __iter__(self) -> Iterator[list[int]]:
        yield from self._batches(getattr(self, "epoch", 0))

    def __len__(self) -> int:
        return self._length


class paragraph_group_sampler:  # noqa: N801 - used as a function: the trainer calls it
    """The ``batch_sampler`` argument of the training arguments: builds the sampler for ``groups``.

    A module-level class rather than a closure, so the training arguments stay picklable.
    """

    def __init__(self, groups: Sequence[int]) -> None:
        self.groups = list(groups)

    def __call__(
        self, dataset: Any, batch_size: int, drop_last: bool, valid_label_columns=None, generator=None, seed=0
    ) -> ParagraphGroupBatchSampler:
        return ParagraphGroupBatchSampler(
            dataset, batch_size, drop_last, valid_label_columns, generator, seed, groups=self.groups
        )

    def __repr__(self) -> str:
        return f"paragraph_groups({len(set(self.groups))} groups of {len(self.groups)} pairs)"
