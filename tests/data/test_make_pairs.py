"""`sembridge pairs` and sembridge.data.make_pairs: formats, filters, seeded cloze, bad input."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sembridge.cli.app import app, main
from sembridge.data.make_pairs import (
    Document,
    Pair,
    PairFilter,
    detect_format,
    inverse_cloze_pairs,
    make_pairs,
    normalise,
    read_documents,
    script_share,
    split_paragraphs,
    split_sentences,
    title_pairs,
    truncate,
)
from sembridge.errors import OutputExistsError, SembridgeError

RU_PARAGRAPH = (
    "Москва — столица России. Это крупнейший город страны. В Москве живёт более двенадцати миллионов человек."
)
ZH_PARAGRAPH = "北京是中国的首都。它是一座历史悠久的城市！你去过北京吗？"
AR_PARAGRAPH = "ما هي عاصمة فرنسا؟ باريس هي عاصمة فرنسا وأكبر مدنها. يزورها ملايين السياح كل عام."
HI_PARAGRAPH = "दिल्ली भारत की राजधानी है। यह एक बहुत पुराना शहर है। यहाँ बहुत सारे लोग रहते हैं।"
KO_PARAGRAPH = (
    "서울은 대한민국의 수도입니다. 서울에는 많은 사람들이 살고 있습니다. 한강이 도시를 가로지릅니다."
)
EN_PARAGRAPH = "This paragraph is in English. It should not pass a Russian script filter."


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def write_jsonl(path: Path, records: list[dict]) -> Path:
    return write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def invoke(*args: object):
    return CliRunner().invoke(app, ["pairs", *map(str, args)])


# ----------------------------------------------------------------------------------------------
# Text helpers


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("Москва", "ru", 1.0),
        ("北京", "zh", 1.0),
        ("بيروت", "ar", 1.0),
        ("दिल्ली", "hi", 1.0),
        ("서울", "ko", 1.0),
        ("Москва city", "ru", 0.6),  # 6 Cyrillic letters out of 10
        ("123 ?!", "ru", 0.0),
    ],
)
def test_script_share(text, language, expected):
    assert script_share(text, language) == pytest.approx(expected)


def test_script_share_ignores_digits_and_punctuation():
    assert script_share("Глава 12: «Сеть»!", "ru") == 1.0
    assert script_share("Москва", "zh") == 0.0


def test_unknown_language_is_refused():
    with pytest.raises(SembridgeError, match="unknown language 'xx'"):
        script_share("text", "xx")


@pytest.mark.parametrize(
    ("paragraph", "count"),
    [(RU_PARAGRAPH, 3), (ZH_PARAGRAPH, 3), (AR_PARAGRAPH, 3), (HI_PARAGRAPH, 3), (KO_PARAGRAPH, 3)],
)
def test_split_sentences_in_each_language(paragraph, count):
    sentences = split_sentences(paragraph)
    assert len(sentences) == count
    assert "".join(sentences).replace(" ", "") == paragraph.replace(" ", "")


def test_split_sentences_keeps_decimals_and_closing_quotes():
    assert split_sentences("Цена 3.5 рубля. Всё.") == ["Цена 3.5 рубля.", "Всё."]
    assert split_sentences("他说：“好。”然后走了。") == ["他说：“好。”", "然后走了。"]


def test_split_paragraphs_on_blank_lines():
    assert split_paragraphs("a\nb\n\n  \nc\n") == ["a b", "c"]


def test_normalise_and_truncate():
    assert normalise("  Москва\n СТОЛИЦА ") == normalise("москва столица")
    assert truncate("один два три четыре", 14) == "один два три"
    assert truncate("abcdefghij", 4) == "abcd"
    assert truncate("short", None) == "short"


# ----------------------------------------------------------------------------------------------
# Pairs


def test_title_pairs_title_to_body_and_keyword_to_page():
    doc = Document("Тело страницы о таблицах.", "Вставка таблицы", ("таблица", "вставка"), "p.jsonl line 1")
    pairs = list(title_pairs(doc))
    assert [(p.query, p.kind) for p in pairs] == [
        ("Вставка таблицы", "title"),
        ("таблица", "keywords"),
        ("вставка", "keywords"),
    ]
    assert pairs[0].positive == "Тело страницы о таблицах."
    assert pairs[1].positive == "Вставка таблицы\n\nТело страницы о таблицах."


def test_inverse_cloze_is_seeded_and_leaves_the_sentence_out():
    doc = Document(f"{RU_PARAGRAPH}\n\n{ZH_PARAGRAPH}\n\nОдно предложение.", where="a.txt")
    first = list(inverse_cloze_pairs(doc, random.Random(7)))
    random.seed(123)  # the global state must not matter
    second = list(inverse_cloze_pairs(doc, random.Random(7)))
    assert first == second
    assert len(first) == 2  # the one-sentence paragraph gives no pair
    for pair in first:
        assert pair.kind == "cloze" and pair.query not in pair.positive
        assert sorted(split_sentences(f"{pair.query} {pair.positive}")) == sorted(
            split_sentences(RU_PARAGRAPH if pair.doc.startswith("a.txt paragraph 1") else ZH_PARAGRAPH)
        )
    seeds = {tuple(p.query for p in inverse_cloze_pairs(doc, random.Random(s))) for s in range(20)}
    assert len(seeds) > 1


def test_inverse_cloze_min_query_chars_and_per_paragraph():
    doc = Document("Да. Это длинное предложение номер один. Это длинное предложение номер два.")
    pairs = list(inverse_cloze_pairs(doc, random.Random(0), min_query_chars=10, per_paragraph=5))
    assert sorted(p.query for p in pairs) == [
        "Это длинное предложение номер два.",
        "Это длинное предложение номер один.",
    ]


def test_filter_drops_short_foreign_and_duplicate_pairs():
    counts = Counter()
    pair_filter = PairFilter(language="ru", min_query_chars=4, min_positive_chars=10, max_positive_chars=30)
    pairs = [
        Pair("Москва", "Столица России, крупнейший город страны и её центр.", "title"),
        Pair("МОСКВА ", "Столица России, крупнейший город страны и её центр.", "title"),  # duplicate
        Pair("Да", "Столица России, крупнейший город.", "title"),  # query too short
        Pair("Москва", "Коротко", "title"),  # positive too short
        Pair("Moscow", "The capital of Russia and its largest city.", "title"),  # script
    ]
    kept = list(pair_filter.apply(pairs, counts))
    assert [p.query for p in kept] == ["Москва"]
    assert len(kept[0].positive) <= 30
    assert counts == {"duplicate": 1, "too short": 2, "script": 1}


def test_filter_refuses_bad_settings():
    with pytest.raises(SembridgeError, match="min-script-share"):
        PairFilter(min_script_share=1.5)
    with pytest.raises(SembridgeError, match="below min_positive_chars"):
        PairFilter(min_positive_chars=50, max_positive_chars=10)


# ----------------------------------------------------------------------------------------------
# Formats


def test_detect_format(tmp_path):
    assert detect_format(write(tmp_path / "a.txt", "x")) == "text"
    assert detect_format(write_jsonl(tmp_path / "t.jsonl", [{"title": "a", "body": "b"}])) == "titled"
    assert detect_format(write_jsonl(tmp_path / "p.jsonl", [{"text": "b"}])) == "jsonl"
    with pytest.raises(SembridgeError, match="cannot tell the format"):
        detect_format(write(tmp_path / "a.xml", "<a/>"))


def test_text_format_makes_cloze_pairs(tmp_path):
    source = write(tmp_path / "docs.txt", f"{RU_PARAGRAPH}\n\n{EN_PARAGRAPH}\n\nКороткий абзац.\n")
    out = tmp_path / "pairs.jsonl"
    summary = make_pairs([source], out, pair_filter=PairFilter(language="ru"), seed=1)
    records = read_jsonl(out)
    assert len(records) == summary.written == 1
    assert set(records[0]) == {"query", "positive"}
    assert records[0]["query"] in RU_PARAGRAPH and records[0]["query"] not in records[0]["positive"]
    assert summary.documents == 3 and summary.dropped == {"script": 1}


def test_titled_format_title_keywords_and_modes(tmp_path):
    source = write_jsonl(
        tmp_path / "pages.jsonl",
        [
            {"title": "Вставка таблицы", "body": RU_PARAGRAPH, "keywords": "таблица, вставка таблиц"},
            {"title": "Печать документа", "text": "Выберите Файл - Печать, чтобы напечатать документ."},
        ],
    )
    out = tmp_path / "pairs.jsonl"
    make_pairs([source], out, fmt="titled", mode="title", pair_filter=PairFilter(language="ru"))
    assert [r["query"] for r in read_jsonl(out)] == ["Вставка таблицы", "Печать документа"]
    make_pairs([source], out, mode="keywords", overwrite=True)
    assert [r["query"] for r in read_jsonl(out)] == ["таблица", "вставка таблиц"]
    assert read_jsonl(out)[0]["positive"].startswith("Вставка таблицы\n\n")
    summary = make_pairs([source], out, mode="all", overwrite=True)
    assert summary.by_kind == {"title": 2, "keywords": 2, "cloze": 1}


def test_jsonl_paragraphs_format_with_limit(tmp_path):
    source = write_jsonl(
        tmp_path / "paragraphs.jsonl",
        [{"text": ZH_PARAGRAPH}, {"text": KO_PARAGRAPH}, {"text": ZH_PARAGRAPH}],
    )
    out = tmp_path / "pairs.jsonl"
    summary = make_pairs([source], out, pair_filter=PairFilter(min_positive_chars=5))
    assert summary.documents == 2  # the repeated paragraph is dropped before pairing
    assert summary.written == 2
    make_pairs([source], out, pair_filter=PairFilter(min_positive_chars=5), limit=1, overwrite=True)
    assert len(read_jsonl(out)) == 1


BOILERPLATE = "Справка LibreOffice: эта страница относится ко всем модулям пакета офисных программ."


def test_shared_paragraphs_are_counted_or_dropped(tmp_path):
    """Pages repeating a paragraph give positives that share it: counted by default, dropped on request."""
    pages = [
        {"title": "Вставка таблицы", "body": f"{RU_PARAGRAPH}\n\n{BOILERPLATE}"},
        {
            "title": "Печать документа",
            "body": f"Выберите Файл - Печать, чтобы напечатать документ.\n\n{BOILERPLATE}",
        },
        {
            "title": "Сохранение файла",
            "body": "Выберите Файл - Сохранить, чтобы сохранить документ на диске.",
        },
    ]
    source = write_jsonl(tmp_path / "pages.jsonl", pages)
    out = tmp_path / "pairs.jsonl"
    kept = make_pairs([source], out, fmt="titled", mode="title")
    assert kept.written == 3 and kept.sharing_a_paragraph == 2 and "shared paragraph" not in kept.dropped
    dropped = make_pairs([source], out, fmt="titled", mode="title", shared_paragraphs="drop", overwrite=True)
    assert dropped.written == 2 and dropped.dropped == {"shared paragraph": 1}
    assert dropped.sharing_a_paragraph == 0
    assert [r["query"] for r in read_jsonl(out)] == [
        "Вставка таблицы",
        "Сохранение файла",
    ]  # the first is kept
    result = invoke(source, "-o", out, "--format", "titled", "--mode", "title", "--overwrite")
    assert result.exit_code == 0 and "sharing a positive or paragraph" in result.output
    result = invoke(
        source,
        "-o",
        out,
        "--format",
        "titled",
        "--mode",
        "title",
        "--overwrite",
        "--shared-paragraphs",
        "drop",
        "--json",
    )
    assert result.exit_code == 0 and json.loads(result.output)["dropped"] == {"shared paragraph": 1}


def test_several_inputs_and_deduplication_across_files(tmp_path):
    a = write(tmp_path / "a.txt", AR_PARAGRAPH)
    b = write(tmp_path / "b.txt", f"{AR_PARAGRAPH}\n\n{HI_PARAGRAPH}")
    out = tmp_path / "pairs.jsonl"
    summary = make_pairs([a, b], out, pair_filter=PairFilter(min_positive_chars=5))
    assert summary.files == 2 and summary.documents == 2 and summary.written == 2


def test_read_documents_titled_needs_a_title(tmp_path):
    source = write_jsonl(tmp_path / "p.jsonl", [{"text": "без заголовка"}])
    with pytest.raises(SembridgeError, match="field 'title' is missing"):
        read_documents([source], "titled")


# ----------------------------------------------------------------------------------------------
# The command


def test_cli_writes_pairs_and_a_summary(tmp_path):
    source = write(tmp_path / "docs.txt", f"{RU_PARAGRAPH}\n\n{KO_PARAGRAPH}\n")
    out = tmp_path / "pairs.jsonl"
    result = invoke(source, "-o", out, "--language", "ko", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert "Wrote 1 pairs" in result.output
    assert read_jsonl(out)[0]["query"] in KO_PARAGRAPH
    again = invoke(source, "-o", out, "--language", "ko", "--seed", "3", "--overwrite", "--json")
    assert again.exit_code == 0 and json.loads(again.output)["written"] == 1


def test_help_has_examples():
    result = invoke("--help")
    assert result.exit_code == 0 and "Example" in result.output


@pytest.mark.parametrize(
    ("make_input", "extra", "message"),
    [
        (lambda d: write(d / "empty.txt", ""), (), "is empty"),
        (lambda d: write(d / "blank.txt", "\n\n  \n"), (), "holds no text"),
        (lambda d: write(d / "short.txt", "Одно предложение.\n\nЕщё одно."), (), "no usable pair"),
        (lambda d: write(d / "en.txt", EN_PARAGRAPH), ("--language", "ru"), "no usable pair"),
        (lambda d: write(d / "a.txt", RU_PARAGRAPH), ("--format", "xml"), "unknown format 'xml'"),
        (lambda d: write(d / "a.xml", RU_PARAGRAPH), (), "cannot tell the format"),
        (lambda d: write(d / "a.txt", RU_PARAGRAPH), ("--mode", "nope"), "unknown mode 'nope'"),
        (
            lambda d: write(d / "a.txt", RU_PARAGRAPH),
            ("--shared-paragraphs", "group"),
            "unknown --shared-paragraphs 'group'",
        ),
        (lambda d: write(d / "a.txt", RU_PARAGRAPH), ("--language", "xx"), "unknown language 'xx'"),
        (lambda d: write(d / "bad.jsonl", "{not json\n"), (), "not valid JSON"),
        (lambda d: d / "missing.txt", (), "does not exist"),
    ],
)
def test_bad_input_is_one_line_exit_1_and_nothing_written(tmp_path, make_input, extra, message):
    source = make_input(tmp_path)
    out = tmp_path / "out" / "pairs.jsonl"
    result = invoke(source, "-o", out, *extra)
    assert result.exit_code == 1
    assert isinstance(result.exception, SembridgeError), result.output
    assert message in result.exception.message
    assert "\n" not in result.exception.message and result.exception.hint
    assert not out.exists()
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_existing_output_is_refused_without_overwrite(tmp_path):
    source = write(tmp_path / "a.txt", RU_PARAGRAPH)
    out = write(tmp_path / "pairs.jsonl", "old\n")
    result = invoke(source, "-o", out)
    assert isinstance(result.exception, OutputExistsError)
    assert out.read_text(encoding="utf-8") == "old\n"


def test_main_prints_one_error_line_and_exits_1(tmp_path, capsys):
    source = write(tmp_path / "empty.txt", "")
    with pytest.raises(SystemExit) as exit_info:
        main(["pairs", str(source), "-o", str(tmp_path / "pairs.jsonl")])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "Error:" in err and "is empty" in err
    assert not (tmp_path / "pairs.jsonl").exists()
