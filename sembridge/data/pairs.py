"""Query/positive pairs (optionally with a hard negative): read, check and normalise them.

Every command reads pairs through :func:`read_pairs`: ``finetune`` turns them into a
``datasets.Dataset`` (:func:`load_pairs`), ``evaluate`` and ``export`` into a retrieval set
(:mod:`sembridge.data.retrieval`), so a pairs file that one command accepts, every command
accepts. All checks happen here, before any model is loaded, and a bad record is reported with
its file, its line (or row) number and the field that is wrong:

    pairs.jsonl line 7: field 'positive' is missing (columns: query, answer)

Sources: any file, folder or hub id that :func:`sembridge.data.readers.read_source` reads.

Layouts:

- ``pairs``: a query column and a positive column, optionally a negative column. Without
  explicit names the first match of :mod:`sembridge.data.columns` is taken (query: query,
  question, anchor; positive: positive, answer, passage, document, pos; negative: negative,
  hard_negative, neg).
- ``miracl``: ``query``, ``positive_passages`` and ``negative_passages``, each passage an object
  with ``title`` and ``text``, joined as "title text". The first positive and the first negative
  of each query are used; queries without any positive passage are skipped (and counted).
- ``webfaq``: ``question`` and ``answer``; ``language`` keeps only the rows whose language
  column (language or lang) matches. For a hub id, ``language`` also picks the WebFAQ
  configuration of that name (e.g. ``rus``) unless ``config_name`` is given.
- ``auto`` (default): ``miracl`` when the first record has ``positive_passages``, else ``pairs``.

Negatives are used only when every row has one. A negative column found automatically that is
empty in some rows is dropped with a warning; one named explicitly is required in every row.

Mined n-tuples (``sembridge mine``, or sentence-transformers' ``mine_hard_negatives`` with
``output_format="n-tuple"``) have numbered negatives ``negative_1`` ... ``negative_k`` instead,
every one required in every row, and optionally ``scores``: the teacher's scores of the positive
and of each negative, ``[positive, negative_1, ..., negative_k]``, which the distillation losses
learn from. ``max_negatives`` keeps the first k of them (and their scores).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sembridge.data.columns import (
    LANGUAGE_NAMES,
    MIRACL_NEGATIVES,
    MIRACL_POSITIVES,
    NEGATIVE_NAMES,
    PAIR_COLUMNS,
    POSITIVE_NAMES,
    QUERY_NAMES,
    pick_column,
)
from sembridge.data.readers import Located, read_source
from sembridge.errors import SembridgeError, UsageError
from sembridge.flags import declared_flags, flag
from sembridge.log import logger

if TYPE_CHECKING:
    from datasets import Dataset

Layout = Literal["auto", "pairs", "miracl", "webfaq"]
LAYOUTS: tuple[str, ...] = ("auto", "pairs", "miracl", "webfaq")


# The panel of `sembridge finetune --help` that holds the data flags.
DATA = "Data"


@dataclass(frozen=True)
class DataOptions:
    """How to read pairs; the defaults fit most files. Each field declares its ``sembridge finetune``
    flag (:mod:`sembridge.flags`).

    Attributes:
        layout: ``auto``, ``pairs``, ``miracl`` or ``webfaq`` (see the module docstring).
        query_column: the query field; default: the first of query, question, anchor.
        positive_column: the positive field; default: positive, answer, passage, document, pos
            (``positive_passages`` for MIRACL).
        negative_column: the negative field; default: negative, hard_negative, neg
            (``negative_passages`` for MIRACL).
        negatives: use negatives when the data has them (one hard negative per query, or the
            numbered negatives of mined n-tuples).
        max_negatives: keep at most this many numbered negatives (and their teacher scores);
            None: all of them; 0: none.
        language: keep only rows in this language (needs a language column, or a hub id).
        language_column: the language field; default: language, lang.
        split: the split of a hub dataset or of a ``save_to_disk`` DatasetDict.
        config_name: the configuration of a hub dataset.
        limit: keep at most this many pairs (the first ones), e.g. for a quick run.
    """

    layout: Layout = field(
        default="auto",
        metadata=flag(
            "--layout",
            "auto, pairs, miracl or webfaq (auto: miracl if records have positive_passages).",
            DATA,
        ),
    )
    query_column: str | None = field(
        default=None, metadata=flag("--query-column", "Query field (default: query, question, anchor).", DATA)
    )
    positive_column: str | None = field(
        default=None,
        metadata=flag(
            "--positive-column", "Positive field (default: positive, answer, passage, document, pos).", DATA
        ),
    )
    negative_column: str | None = field(
        default=None,
        metadata=flag(
            "--negative-column",
            "Hard-negative field, then required in every row (default: negative, hard_negative, neg).",
            DATA,
        ),
    )
    negatives: bool = field(
        default=True,
        metadata=flag("--negatives", "Use hard negatives when the data has them.", DATA, negatable=True),
    )
    max_negatives: int | None = field(
        default=None,
        metadata=flag(
            "--max-negatives",
            "Use at most K numbered negatives (negative_1..negative_K) of mined n-tuples.",
            DATA,
            minimum=0,
        ),
    )
    language: str | None = field(
        default=None,
        metadata=flag(
            "--language",
            "Keep rows of this language (language/lang column); for a WebFAQ hub id its config (rus).",
            DATA,
        ),
    )
    language_column: str | None = field(
        default=None, metadata=flag("--language-column", "Language field.", DATA)
    )
    split: str = field(default="train", metadata=flag("--split", "Split of a hub (or saved) dataset.", DATA))
    config_name: str | None = field(
        default=None, metadata=flag("--data-config", "Configuration of a hub dataset.", DATA)
    )
    limit: int | None = field(
        default=None, metadata=flag("--limit", "Use only the first N training pairs.", DATA, minimum=1)
    )

    def __post_init__(self) -> None:
        # Each refusal is a usage error naming the flag that sets the value (--limit, --layout).
        flags = {name: declared.name for name, declared in declared_flags(DataOptions).items()}
        if self.layout not in LAYOUTS:
            raise UsageError(f"{flags['layout']} must be one of {', '.join(LAYOUTS)}, got {self.layout!r}")
        if self.limit is not None and self.limit < 1:
            raise UsageError(f"{flags['limit']} must be a positive integer, got {self.limit}.")
        if self.max_negatives is not None and (
            isinstance(self.max_negatives, bool) or self.max_negatives < 0
        ):
            raise UsageError(f"{flags['max_negatives']} must be an integer >= 0, got {self.max_negatives!r}.")


Pairs = dict[str, list[Any]]
"""Pairs as columns: ``query``, ``positive`` and, when every row has one, ``negative`` (or
``negative_1`` ... ``negative_k``, and ``scores``, lists of k + 1 floats)."""

SCORES_COLUMN = "scores"
LABEL_COLUMN = "label"


def paragraph_keys(text: str) -> set[str]:
    """The first 80 characters of each paragraph of at least 40 (blank lines separate paragraphs):
    two texts that share one hold the same paragraph, as pages repeating a help text do."""
    return {p.strip()[:80] for p in text.split("\n\n") if len(p.strip()) >= 40}


def shared_text_keys(text: str) -> set[str]:
    """The keys two texts share when they are equal or share a paragraph (:func:`paragraph_keys`)."""
    return {f"text:{text}", *paragraph_keys(text)}


def paragraph_groups(texts: Sequence[str]) -> list[int]:
    """A group number per text: texts that are equal or share a paragraph (transitively) share one.

    Numbers run from 0 in order of first appearance; a text that shares nothing has its own.
    """
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[str, int] = {}
    for i, text in enumerate(texts):
        for key in shared_text_keys(text):
            j = first.setdefault(key, i)
            if j != i:
                parent[root(i)] = root(j)
    numbers: dict[int, int] = {}
    return [numbers.setdefault(root(i), len(numbers)) for i in range(len(texts))]


def sharing_a_paragraph(texts: Sequence[str]) -> int:
    """How many of ``texts`` are equal to, or share a paragraph with, another of them."""
    sizes: dict[int, int] = {}
    for group in paragraph_groups(texts):
        sizes[group] = sizes.get(group, 0) + 1
    return sum(size for size in sizes.values() if size > 1)


def numbered_negatives(columns: Iterable[str]) -> list[str]:
    """``negative_1``, ``negative_2``, ... as far as they run without a gap, in order."""
    present = set(columns)
    names: list[str] = []
    while f"negative_{len(names) + 1}" in present:
        names.append(f"negative_{len(names) + 1}")
    return names


def read_pairs(source: str | Path, options: DataOptions | None = None) -> Pairs:
    """Read a file, folder or hub dataset into checked columns query, positive[, negative].

    Raises :class:`~sembridge.errors.SembridgeError` naming the file, line and field of the
    first bad record, or when the data set is empty or lacks the needed columns.
    """
    options = options or DataOptions()
    config = options.config_name
    if config is None and options.layout == "webfaq" and options.language:
        config = options.language
    source_name = Path(source).name if Path(source).expanduser().exists() else str(source)
    return collect_pairs(read_source(source, options.split, config), options, source_name)


def load_pairs(source: str | Path, options: DataOptions | None = None) -> Dataset:
    """:func:`read_pairs` as a ``datasets.Dataset`` with the columns query, positive[, negative]."""
    from datasets import Dataset

    return Dataset.from_dict(read_pairs(source, options))


def has_pair_columns(record: dict[str, Any]) -> bool:
    """True when a record has a query column and a positive column (or MIRACL positive passages)."""
    keys = list(record)
    positives = (*POSITIVE_NAMES, MIRACL_POSITIVES)
    return pick_column(QUERY_NAMES, keys) is not None and pick_column(positives, keys) is not None


def pairs_to_dataset(
    pairs: Sequence[tuple[str, str]] | Sequence[tuple[str, str, str]], name: str = "pairs"
) -> Dataset:
    """Turn in-memory (query, positive[, negative]) tuples into a checked Dataset."""
    from datasets import Dataset

    records = []
    for number, pair in enumerate(pairs, start=1):
        if not isinstance(pair, (tuple, list)) or len(pair) not in (2, 3):
            raise SembridgeError(
                f"{name} item {number}: expected (query, positive[, negative]), got {pair!r:.80}"
            )
        records.append((f"{name} item {number}", dict(zip(PAIR_COLUMNS, pair, strict=False))))
    options = DataOptions(
        layout="pairs", negative_column="negative" if pairs and len(pairs[0]) == 3 else None
    )
    return Dataset.from_dict(collect_pairs(iter(records), options, name))


def validate_pairs(dataset: Dataset, name: str = "dataset") -> Dataset:
    """Check an in-memory Dataset and return it with the columns query, positive[, negative] in order."""
    columns = list(dataset.column_names)
    if len(dataset) == 0:
        raise SembridgeError(f"{name}: no training pairs (the data set is empty)")
    for needed in ("query", "positive"):
        if needed not in columns:
            raise SembridgeError(
                f"{name}: column '{needed}' is missing (columns: {', '.join(columns)})",
                hint="rename the columns to query, positive[, negative], or read the data with load_pairs",
            )
    numbered = numbered_negatives(columns)
    keep = [c for c in PAIR_COLUMNS if c in columns and not (c == "negative" and numbered)] + numbered
    scored = bool(numbered) and SCORES_COLUMN in columns
    # A "label" column is kept: sentence-transformers hands it to the loss as its labels (the
    # alignment loss reads each pair's teacher vector by it, sembridge.training.align).
    labels = [LABEL_COLUMN] if LABEL_COLUMN in columns and not scored else []
    dataset = dataset.select_columns(keep + ([SCORES_COLUMN] if scored else []) + labels)
    if scored:
        for number, value in enumerate(dataset[SCORES_COLUMN], start=1):
            _scores({SCORES_COLUMN: value}, SCORES_COLUMN, len(numbered) + 1, f"{name} row {number}")
    for column in keep:
        for number, value in enumerate(dataset[column], start=1):
            if not isinstance(value, str):
                raise SembridgeError(
                    f"{name} row {number}: field '{column}' must be text, got {type(value).__name__}"
                )
            if not value.strip():
                raise SembridgeError(f"{name} row {number}: field '{column}' is empty")
    return dataset


# ----------------------------------------------------------------------------------------------
# Records -> pairs


@dataclass
class _Columns:
    layout: str
    query: str
    positive: str
    negative: str | None
    negative_explicit: bool
    language: str | None
    numbered: list[str] = field(default_factory=list)
    scores: str | None = None


def _resolve_columns(first: dict[str, Any], where: str, options: DataOptions, source_name: str) -> _Columns:
    keys = list(first)
    listed = ", ".join(keys) or "none"
    layout = options.layout
    if layout == "auto":
        layout = "miracl" if MIRACL_POSITIVES in first else "pairs"

    def required(explicit: str | None, defaults: tuple[str, ...], role: str, flag: str) -> str:
        if explicit is not None:
            if explicit not in first:
                raise SembridgeError(
                    f"{where}: the {role} column '{explicit}' is not there (columns: {listed})",
                    hint=f"name an existing column with {flag}",
                )
            return explicit
        found = pick_column(defaults, keys)
        if found is None:
            raise SembridgeError(
                f"{source_name}: no {role} column (looked for {', '.join(defaults)}; columns: {listed})",
                hint=f"name the {role} column with {flag}",
            )
        return found

    if layout == "miracl":
        query = required(options.query_column, ("query",), "query", "--query-column")
        positive = required(options.positive_column, (MIRACL_POSITIVES,), "positive", "--positive-column")
        negative_defaults: tuple[str, ...] = (MIRACL_NEGATIVES,)
    elif layout == "webfaq":
        query = required(options.query_column, ("question", *QUERY_NAMES), "query", "--query-column")
        positive = required(
            options.positive_column, ("answer", *POSITIVE_NAMES), "positive", "--positive-column"
        )
        negative_defaults = NEGATIVE_NAMES
    else:
        query = required(options.query_column, QUERY_NAMES, "query", "--query-column")
        positive = required(options.positive_column, POSITIVE_NAMES, "positive", "--positive-column")
        negative_defaults = NEGATIVE_NAMES

    negative: str | None = None
    explicit = options.negative_column is not None
    if options.negatives:
        if explicit:
            negative = required(options.negative_column, negative_defaults, "negative", "--negative-column")
        else:
            negative = pick_column(negative_defaults, keys)

    language: str | None = None
    if options.language is not None:
        if options.language_column is not None:
            language = required(options.language_column, LANGUAGE_NAMES, "language", "--language-column")
        else:
            language = pick_column(LANGUAGE_NAMES, keys)
    if len({query, positive, negative} - {None}) < (3 if negative else 2):
        raise SembridgeError(
            f"{source_name}: the query, positive and negative columns must differ "
            f"(query: {query}, positive: {positive}, negative: {negative})"
        )
    numbered = numbered_negatives(keys) if layout == "pairs" and options.negatives and not explicit else []
    if options.max_negatives is not None:
        numbered = numbered[: options.max_negatives]
    scores = SCORES_COLUMN if numbered and SCORES_COLUMN in first else None
    if numbered:
        negative = None  # the numbered negatives of an n-tuple replace a single negative column
    return _Columns(layout, query, positive, negative, explicit, language, numbered, scores)


def _text(record: dict[str, Any], field: str, where: str) -> str:
    """The field as non-empty text; a list of texts gives its first element."""
    if field not in record or record[field] is None:
        raise SembridgeError(f"{where}: field '{field}' is missing (columns: {', '.join(record) or 'none'})")
    value = record[field]
    if isinstance(value, list):
        if not value:
            raise SembridgeError(f"{where}: field '{field}' is empty")
        value = value[0]
    if not isinstance(value, str):
        raise SembridgeError(f"{where}: field '{field}' must be text, got {type(value).__name__}")
    if not value.strip():
        raise SembridgeError(f"{where}: field '{field}' is empty")
    return value.strip()


def _passage(item: Any, field: str, index: int, where: str) -> str:
    if isinstance(item, str):
        text = item
    elif isinstance(item, dict):
        if "text" not in item or not isinstance(item["text"], str):
            raise SembridgeError(
                f"{where}: {field}[{index}] has no 'text' (keys: {', '.join(item) or 'none'})"
            )
        title = item.get("title") or ""
        if not isinstance(title, str):
            raise SembridgeError(f"{where}: {field}[{index}].title must be text, got {type(title).__name__}")
        text = f"{title.strip()} {item['text'].strip()}".strip()
    else:
        raise SembridgeError(
            f"{where}: {field}[{index}] must be a passage with title and text, got {type(item).__name__}"
        )
    if not text:
        raise SembridgeError(f"{where}: {field}[{index}] is empty")
    return text


def _passages(record: dict[str, Any], field: str, where: str, required: bool) -> list[Any]:
    if field not in record or record[field] is None:
        if required:
            raise SembridgeError(
                f"{where}: field '{field}' is missing (columns: {', '.join(record) or 'none'})"
            )
        return []
    value = record[field]
    if not isinstance(value, list):
        raise SembridgeError(
            f"{where}: field '{field}' must be a list of passages, got {type(value).__name__}"
        )
    return value


def _optional_negative(record: dict[str, Any], field: str, where: str, explicit: bool) -> str | None:
    """The negative text, or None when absent or empty and the column was not named explicitly."""
    value = record.get(field)
    if not explicit and (value is None or not (value.strip() if isinstance(value, str) else value)):
        return None
    return _text(record, field, where)


def collect_pairs(records: Iterable[Located], options: DataOptions, source_name: str) -> Pairs:
    """Check located records and gather them as columns query, positive[, negative]."""
    queries: list[str] = []
    positives: list[str] = []
    negatives: list[str | None] = []
    numbered: list[list[str]] = []
    scores: list[list[float]] = []
    columns: _Columns | None = None
    skipped_language = 0
    skipped_no_positive = 0
    first_seen: dict[tuple[str, str], str] = {}  # (query, positive) -> where it first appeared
    repeats = 0
    repeat_example: tuple[str, str, str, str] | None = None  # where, where first, query, positive
    for where, record in records:
        if not isinstance(record, dict):
            raise SembridgeError(
                f"{where}: expected an object with named fields, got {type(record).__name__}"
            )
        if columns is None:
            columns = _resolve_columns(record, where, options, source_name)
        if options.language is not None and columns.language is not None:
            value = record.get(columns.language)
            if value is None or str(value).strip().lower() != options.language.lower():
                skipped_language += 1
                continue
        query = _text(record, columns.query, where)
        if columns.layout == "miracl":
            positive_items = _passages(record, columns.positive, where, required=True)
            if not positive_items:
                skipped_no_positive += 1
                continue
            positive = _passage(positive_items[0], columns.positive, 0, where)
            negative = None
            if columns.negative is not None:
                negative_items = _passages(
                    record, columns.negative, where, required=columns.negative_explicit
                )
                if negative_items:
                    negative = _passage(negative_items[0], columns.negative, 0, where)
                elif columns.negative_explicit:
                    raise SembridgeError(f"{where}: field '{columns.negative}' is empty")
        else:
            positive = _text(record, columns.positive, where)
            negative = (
                _optional_negative(record, columns.negative, where, columns.negative_explicit)
                if columns.negative is not None
                else None
            )
        if (query, positive) in first_seen:
            repeats += 1
            repeat_example = repeat_example or (where, first_seen[query, positive], query, positive)
        else:
            first_seen[query, positive] = where
        queries.append(query)
        positives.append(positive)
        negatives.append(negative)
        if columns.numbered:
            numbered.append([_text(record, name, where) for name in columns.numbered])
        if columns.scores is not None:
            scores.append(_scores(record, columns.scores, len(columns.numbered) + 1, where))
        if options.limit is not None and len(queries) >= options.limit:
            break

    if columns is None:
        raise SembridgeError(f"{source_name}: no training pairs (the data is empty)", hint="check the file")
    if options.language is not None and columns.language is None:
        raise SembridgeError(
            f"{source_name}: --language {options.language} given but the data has no language column "
            f"(looked for {', '.join(LANGUAGE_NAMES)})",
            hint="name it with --language-column, or drop --language",
        )
    if skipped_no_positive:
        logger.warning("%s: %d queries without a positive passage skipped", source_name, skipped_no_positive)
    if repeat_example is not None:
        _warn_repeats(source_name, repeats, *repeat_example)
    if not queries:
        why = (
            f" ({skipped_language} rows in other languages than '{options.language}')"
            if skipped_language
            else ""
        )
        raise SembridgeError(f"{source_name}: no training pairs{why}", hint="check the file and the filters")
    if skipped_language:
        logger.info(
            "%s: kept %d rows in '%s', skipped %d",
            source_name,
            len(queries),
            options.language,
            skipped_language,
        )

    data: Pairs = {"query": queries, "positive": positives}
    if columns.negative is not None:
        missing = sum(negative is None for negative in negatives)
        if missing == 0:
            data["negative"] = [n for n in negatives if n is not None]
        elif missing < len(negatives):
            logger.warning(
                "%s: %d of %d rows have no negative; negatives are not used (name the column with "
                "--negative-column to require one in every row)",
                source_name,
                missing,
                len(negatives),
            )
    for i, name in enumerate(columns.numbered):
        data[name] = [row[i] for row in numbered]
    if columns.scores is not None:
        data[SCORES_COLUMN] = scores
    logger.info("%s: %d pairs (%s)", source_name, len(queries), ", ".join(data))
    return data


def _warn_repeats(source_name: str, count: int, where: str, first: str, query: str, positive: str) -> None:
    """One warning for the pairs that repeat an earlier pair (the same query and positive)."""
    name, _, place = first.rpartition(" ")
    name, _, unit = name.rpartition(" ")
    if where.startswith(f"{name} {unit} "):  # the same file: "pairs.jsonl line 9 repeats line 2"
        first = f"{unit} {place}"
    logger.warning(
        "%s: %d training pair(s) repeat an earlier pair (the same query and positive), e.g. %s "
        "repeats %s (%.60r -> %.60r); they are kept: the batch sampler only keeps a repeat out of its "
        "copy's batch, so fine-tuning trains on each repeat again (remove them to weigh every pair once)",
        source_name,
        count,
        where,
        first,
        query,
        positive,
    )


def _scores(record: dict[str, Any], field: str, count: int, where: str) -> list[float]:
    """The teacher's scores of a row: ``count`` finite numbers (the positive's, then each negative's)."""
    value = record.get(field)
    if not isinstance(value, list) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value
    ):
        raise SembridgeError(
            f"{where}: field '{field}' must be a list of {count} finite numbers, got {value!r:.80}"
        )
    if len(value) < count:
        raise SembridgeError(
            f"{where}: field '{field}' holds {len(value)} scores for {count} texts (the positive and "
            f"{count - 1} negatives)",
            hint="give one score per text, the positive's first",
        )
    return [float(v) for v in value[:count]]
