"""Reading and checking training pairs (no model involved)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from sembridge.data import (
    DataOptions,
    load_pairs,
    pairs_to_dataset,
    validate_pairs,
    write_pairs_jsonl,
)
from sembridge.errors import SembridgeError


def write_jsonl(path: Path, records: list[object]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def test_jsonl_with_common_names(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "pairs.jsonl",
        [
            {"question": "что такое ИИ?", "answer": "Искусственный интеллект."},
            {"question": "q2", "answer": "a2"},
        ],
    )
    data = load_pairs(path)
    assert data.column_names == ["query", "positive"]
    assert data[0] == {"query": "что такое ИИ?", "positive": "Искусственный интеллект."}
    assert len(data) == 2


def test_columns_are_put_in_order_and_negatives_kept(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "triples.jsonl",
        [
            {"negative": "n1", "positive": "p1", "query": "q1"},
            {"negative": "n2", "positive": "p2", "query": "q2"},
        ],
    )
    data = load_pairs(path)
    assert data.column_names == ["query", "positive", "negative"]
    assert data[1] == {"query": "q2", "positive": "p2", "negative": "n2"}
    assert load_pairs(path, DataOptions(negatives=False)).column_names == ["query", "positive"]


def test_named_columns(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [{"text_a": "q", "text_b": "p", "passage": "not this one"}])
    data = load_pairs(path, DataOptions(query_column="text_a", positive_column="text_b"))
    assert data[0] == {"query": "q", "positive": "p"}


def test_missing_field_names_file_line_and_columns(tmp_path: Path) -> None:
    lines = [{"query": f"q{i}", "positive": f"p{i}"} for i in range(6)] + [{"query": "q7", "answer": "a7"}]
    path = write_jsonl(tmp_path / "pairs.jsonl", lines)
    with pytest.raises(SembridgeError) as err:
        load_pairs(path)
    assert err.value.message == "pairs.jsonl line 7: field 'positive' is missing (columns: query, answer)"


def test_bad_json_line(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"query": "q", "positive": "p"}\n\n{"query": "q2", "positive": }\n', encoding="utf-8")
    with pytest.raises(SembridgeError, match=r"^pairs.jsonl line 3: not valid JSON"):
        load_pairs(path)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"query": "q", "positive": 3}, "pairs.jsonl line 2: field 'positive' must be text, got int"),
        ({"query": "  ", "positive": "p"}, "pairs.jsonl line 2: field 'query' is empty"),
        (
            {"query": None, "positive": "p"},
            "pairs.jsonl line 2: field 'query' is missing (columns: query, positive)",
        ),
        (["q", "p"], "pairs.jsonl line 2: expected an object with named fields, got list"),
    ],
)
def test_wrong_values(tmp_path: Path, record: object, message: str) -> None:
    path = write_jsonl(tmp_path / "pairs.jsonl", [{"query": "q0", "positive": "p0"}, record])
    with pytest.raises(SembridgeError) as err:
        load_pairs(path)
    assert err.value.message == message


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(SembridgeError, match="empty.jsonl: no training pairs"):
        load_pairs(path)


def test_no_query_column_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [{"text": "a", "positive": "b"}])
    with pytest.raises(SembridgeError) as err:
        load_pairs(path)
    assert (
        err.value.message
        == "x.jsonl: no query column (looked for query, question, anchor; columns: text, positive)"
    )
    assert "--query-column" in (err.value.hint or "")


def test_explicit_column_that_is_not_there(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [{"query": "a", "positive": "b"}])
    with pytest.raises(SembridgeError, match="x.jsonl line 1: the positive column 'pos_text' is not there"):
        load_pairs(path, DataOptions(positive_column="pos_text"))


def test_csv_and_tsv(tmp_path: Path) -> None:
    csv_path = tmp_path / "pairs.csv"
    csv_path.write_text('query,passage\nwhat is x,"x is, in short, a letter"\nq2,p2\n', encoding="utf-8")
    data = load_pairs(csv_path)
    assert data[0] == {"query": "what is x", "positive": "x is, in short, a letter"}
    tsv_path = tmp_path / "pairs.tsv"
    tsv_path.write_text("query\tpositive\tnegative\nq1\tp1\tn1\nq2\tp2\t\n", encoding="utf-8")
    # The negative column was found automatically and is empty in line 3: negatives are dropped.
    assert load_pairs(tsv_path).column_names == ["query", "positive"]
    # Named explicitly, it is required in every row.
    with pytest.raises(SembridgeError, match="pairs.tsv line 3: field 'negative' is empty"):
        load_pairs(tsv_path, DataOptions(negative_column="negative"))


def test_csv_row_with_too_many_fields(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("query,positive\nq1,p1\nq2,p2,extra\n", encoding="utf-8")
    with pytest.raises(SembridgeError, match="pairs.csv line 3: 3 fields but the header names 2"):
        load_pairs(path)


def test_csv_row_with_too_few_fields(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("query,positive\nq1,p1\nq2\n", encoding="utf-8")
    with pytest.raises(SembridgeError) as err:
        load_pairs(path)
    assert err.value.message == "pairs.csv line 3: field 'positive' is missing (columns: query)"


def test_miracl_layout(tmp_path: Path) -> None:
    records = [
        {
            "query_id": "1",
            "query": "Когда родился Пушкин?",
            "positive_passages": [{"docid": "d1", "title": "Пушкин", "text": "Родился в 1799 году."}],
            "negative_passages": [{"docid": "d2", "title": "Лермонтов", "text": "Родился в 1814 году."}],
        },
        {"query_id": "2", "query": "no positives", "positive_passages": [], "negative_passages": []},
        {
            "query_id": "3",
            "query": "q3",
            "positive_passages": [{"docid": "d3", "title": "", "text": "t3"}, {"title": "x", "text": "y"}],
            "negative_passages": [{"docid": "d4", "title": "T4", "text": "t4"}],
        },
    ]
    path = tmp_path / "miracl.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    data = load_pairs(path)
    assert data.column_names == ["query", "positive", "negative"]
    assert len(data) == 2  # the query without positives is skipped
    assert data[0] == {
        "query": "Когда родился Пушкин?",
        "positive": "Пушкин Родился в 1799 году.",
        "negative": "Лермонтов Родился в 1814 году.",
    }
    assert data[1]["positive"] == "t3"


def test_miracl_bad_passage(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "m.jsonl", [{"query": "q", "positive_passages": [{"title": "t"}], "negative_passages": []}]
    )
    with pytest.raises(SembridgeError, match=r"m.jsonl line 1: positive_passages\[0\] has no 'text'"):
        load_pairs(path)
    path = write_jsonl(tmp_path / "m2.jsonl", [{"query": "q", "positive_passages": "text"}])
    with pytest.raises(SembridgeError, match="m2.jsonl line 1: field 'positive_passages' must be a list"):
        load_pairs(path)


def test_webfaq_layout_with_language_filter(tmp_path: Path) -> None:
    records = [
        {"id": "1", "question": "Как дела?", "answer": "Хорошо.", "language": "rus"},
        {"id": "2", "question": "How are you?", "answer": "Fine.", "language": "eng"},
        {"id": "3", "question": "Сколько стоит?", "answer": "Сто рублей.", "language": "rus"},
    ]
    path = write_jsonl(tmp_path / "webfaq.jsonl", records)
    data = load_pairs(path, DataOptions(layout="webfaq", language="rus"))
    assert list(data["query"]) == ["Как дела?", "Сколько стоит?"]
    with pytest.raises(SembridgeError, match="no training pairs .*other languages than 'kor'"):
        load_pairs(path, DataOptions(layout="webfaq", language="kor"))
    no_language = write_jsonl(tmp_path / "nolang.jsonl", [{"question": "q", "answer": "a"}])
    with pytest.raises(SembridgeError, match="no language column"):
        load_pairs(no_language, DataOptions(language="rus"))


def test_folder_of_files_and_limit(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "b.jsonl", [{"query": "q3", "positive": "p3"}])
    write_jsonl(tmp_path / "a.jsonl", [{"query": "q1", "positive": "p1"}, {"query": "q2", "positive": "p2"}])
    (tmp_path / "notes.txt").write_text("ignored", encoding="utf-8")
    assert list(load_pairs(tmp_path)["query"]) == ["q1", "q2", "q3"]
    assert list(load_pairs(tmp_path, DataOptions(limit=2))["query"]) == ["q1", "q2"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SembridgeError, match="holds no data files"):
        load_pairs(empty)


def test_json_array_and_parquet(tmp_path: Path) -> None:
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps([{"query": "q1", "positive": "p1"}, {"query": "q2"}]), encoding="utf-8")
    with pytest.raises(SembridgeError, match="pairs.json item 2: field 'positive' is missing"):
        load_pairs(path)
    data = pairs_to_dataset([("q1", "p1"), ("q2", "p2")])
    data.to_parquet(str(tmp_path / "pairs.parquet"))
    assert load_pairs(tmp_path / "pairs.parquet")[1] == {"query": "q2", "positive": "p2"}


def test_missing_file_and_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(SembridgeError, match="does not exist"):
        load_pairs(tmp_path / "nope.jsonl")
    odd = tmp_path / "pairs.xml"
    odd.write_text("<x/>", encoding="utf-8")
    with pytest.raises(SembridgeError, match="unknown file type"):
        load_pairs(odd)


def test_validate_in_memory_dataset() -> None:
    from datasets import Dataset

    data = Dataset.from_dict({"positive": ["p"], "extra": [1], "query": ["q"]})
    assert validate_pairs(data).column_names == ["query", "positive"]
    with pytest.raises(SembridgeError, match="column 'positive' is missing"):
        validate_pairs(Dataset.from_dict({"query": ["q"], "answer": ["a"]}))
    with pytest.raises(SembridgeError, match="no training pairs"):
        validate_pairs(Dataset.from_dict({"query": [], "positive": []}))
    with pytest.raises(SembridgeError, match="row 2: field 'query' is empty"):
        validate_pairs(Dataset.from_dict({"query": ["q", ""], "positive": ["p", "p2"]}))


def test_save_and_reload_pairs(tmp_path: Path) -> None:
    path = write_pairs_jsonl([("你好吗?", "我很好。", "不知道。")], tmp_path / "sub" / "p.jsonl")
    assert load_pairs(path)[0] == {"query": "你好吗?", "positive": "我很好。", "negative": "不知道。"}


def test_unknown_layout_and_limit_are_refused() -> None:
    with pytest.raises(SembridgeError, match="--layout must be one of auto, .*, got 'csvx'"):
        DataOptions(layout="csvx")  # type: ignore[arg-type]
    with pytest.raises(SembridgeError, match="--limit must be a positive integer, got 0"):
        DataOptions(limit=0)


def test_tsv_cells_are_raw_text_a_quote_swallows_nothing(tmp_path: Path) -> None:
    path = tmp_path / "pairs.tsv"
    path.write_text(
        'query\tpositive\n"quoted start\tp1\nq2\tp2 with "quotes" inside\nq3\t"p3"\n', encoding="utf-8"
    )
    data = load_pairs(path)
    assert list(data["query"]) == ['"quoted start', "q2", "q3"]
    assert list(data["positive"]) == ["p1", 'p2 with "quotes" inside', '"p3"']
    # CSV keeps its quoting rules.
    csv_path = tmp_path / "pairs.csv"
    csv_path.write_text('query,positive\n"a, b",p1\n', encoding="utf-8")
    assert load_pairs(csv_path)[0] == {"query": "a, b", "positive": "p1"}


def test_tsv_row_with_a_tab_too_many_says_tsv_cannot_hold_one(tmp_path: Path) -> None:
    path = tmp_path / "pairs.tsv"
    path.write_text('query\tpositive\nq1\t"a\tb"\n', encoding="utf-8")
    with pytest.raises(SembridgeError, match="pairs.tsv line 2: 3 fields but the header names 2") as err:
        load_pairs(path)
    assert "TSV cell cannot hold a tab" in (err.value.hint or "")


def test_repeated_pairs_are_warned_once_and_kept(tmp_path: Path, sembridge_warnings: list[str]) -> None:
    path = write_jsonl(
        tmp_path / "pairs.jsonl",
        [
            {"query": "q1", "positive": "p1"},
            {"query": "q2", "positive": "p2"},
            {"query": "q1", "positive": "p1"},
            {"query": "q1", "positive": "other"},  # the same query with another positive: no repeat
            {"query": "q2", "positive": "p2"},
            {"query": "q1", "positive": "p1"},
        ],
    )
    data = load_pairs(path)
    assert len(data) == 6  # kept
    (warning,) = [m for m in sembridge_warnings if "repeat" in m]
    assert warning.startswith(
        "pairs.jsonl: 3 training pair(s) repeat an earlier pair (the same query and positive), "
        "e.g. pairs.jsonl line 3 repeats line 1 ('q1' -> 'p1'); they are kept"
    )
    sembridge_warnings.clear()
    load_pairs(write_jsonl(tmp_path / "unique.jsonl", [{"query": "q", "positive": "p"}]))
    assert not [m for m in sembridge_warnings if "repeat" in m]
