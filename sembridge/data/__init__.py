"""Every file format and data set layout, read once for every command.

``sembridge finetune``, ``sembridge evaluate`` and ``sembridge export`` all read their data here,
so a file that one command accepts, every command accepts::

    from sembridge.data import DataOptions, load_pairs, load_retrieval_data

    train = load_pairs("pairs.csv", DataOptions(query_column="question"))   # a datasets.Dataset
    test = load_retrieval_data("data/miracl-ru", split="dev")               # corpus, queries, qrels

- :mod:`~sembridge.data.readers`: records from JSONL/JSON/CSV/TSV/Parquet (``.gz`` too),
  folders, ``save_to_disk`` folders and hub sets, each with its "file line N" location;
- :mod:`~sembridge.data.columns`: the one table of accepted column names;
- :mod:`~sembridge.data.hub`: the rule for hub data set ids, and loading them;
- :mod:`~sembridge.data.pairs`: query/positive[/negative] pairs, checked;
- :mod:`~sembridge.data.retrieval`: corpus + queries + qrels in the BEIR, MIRACL, WebFAQ, pairs
  and hub layouts;
- :mod:`~sembridge.data.trec`: qrels, topics and TREC run files;
- :mod:`~sembridge.data.writers`: pairs JSONL and BEIR folders, written atomically.
"""

from __future__ import annotations

from sembridge.data.pairs import (
    LAYOUTS,
    DataOptions,
    load_pairs,
    pairs_to_dataset,
    paragraph_groups,
    read_pairs,
    validate_pairs,
)
from sembridge.data.readers import DATA_SUFFIXES, read_file, read_source
from sembridge.data.retrieval import (
    DATA_FORMATS,
    CorpusStream,
    RetrievalDataset,
    detect_format,
    load_corpus,
    load_queries,
    load_retrieval_data,
    pairs_dataset,
    stream_corpus,
    validate_dataset,
)
from sembridge.data.trec import read_qrels, read_topics, read_trec_run, run_file_for_setting, write_trec_run
from sembridge.data.writers import save_beir, write_pairs_jsonl

__all__ = [
    "DATA_FORMATS",
    "DATA_SUFFIXES",
    "LAYOUTS",
    "CorpusStream",
    "DataOptions",
    "RetrievalDataset",
    "detect_format",
    "load_corpus",
    "load_pairs",
    "load_queries",
    "load_retrieval_data",
    "pairs_dataset",
    "pairs_to_dataset",
    "paragraph_groups",
    "read_file",
    "read_pairs",
    "read_qrels",
    "read_source",
    "read_topics",
    "read_trec_run",
    "run_file_for_setting",
    "save_beir",
    "stream_corpus",
    "validate_dataset",
    "validate_pairs",
    "write_pairs_jsonl",
    "write_trec_run",
]
