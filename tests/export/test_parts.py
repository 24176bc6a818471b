"""Corpus-scale export: the corpus read as a stream, parts renamed into place when whole,
``--resume`` after a failure or a kill, ``--shard I/N`` and ``merge_shards`` (issue 23, at small
scale on the real SPLADE-tiny)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sembridge.data import CorpusStream, stream_corpus
from sembridge.errors import OutputExistsError, SembridgeError, UsageError
from sembridge.export import Shard, export, export_vectors, merge_shards
from sembridge.export.parts import IdSet, cut_parts
from sembridge.io import partial_dir, resumable_output_dir

FORMATS = ["anserini", "seismic", "opensearch", "qdrant"]


@pytest.fixture(scope="module")
def corpus(zh_pairs) -> dict[str, str]:
    docs = {f"doc{i:02d}": reply for i, (_, reply) in enumerate(zh_pairs[:22])}
    docs["english"] = "what is the capital of france"
    return docs


@pytest.fixture
def corpus_file(tmp_path, corpus) -> Path:
    path = tmp_path / "corpus.jsonl"
    lines = [json.dumps({"_id": i, "text": t}, ensure_ascii=False) for i, t in corpus.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def files_of(folder: Path, skip: tuple[str, ...] = ("export.json",)) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in skip
    }


def run(splade_dir, corpus, out, **options):
    options.setdefault("docs_per_file", 4)
    return export_vectors(splade_dir, corpus, out, device="cpu", show_progress=False, **options)


# ------------------------------------------------------------------------------------------------
# Reading a corpus as a stream


def test_stream_corpus_reads_files_one_document_at_a_time(tmp_path, corpus_file, zh_pairs):
    stream = stream_corpus(corpus_file)
    assert isinstance(stream, CorpusStream)
    first = list(stream)
    assert first == list(stream) and first[0] == ("doc00", zh_pairs[0][1])  # read again, same order
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_bytes(corpus_file.read_bytes())
    (beir / "queries.jsonl").write_text('{"_id": "q", "text": "x"}\n')
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq\tdoc00\t1\n")
    assert stream_corpus(beir).files == (beir / "corpus.jsonl",)
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"query": "q", "positive": "p"}\n')
    assert stream_corpus(pairs) is None  # positives are deduplicated: read whole
    with pytest.raises(SembridgeError, match="does not exist"):
        stream_corpus(tmp_path / "missing.jsonl")


def test_export_reads_the_stream_as_it_writes(tmp_path, splade_dir, corpus, monkeypatch):
    """A part is on disk before the stream is read past it: the corpus is never held whole."""
    import sembridge.export.parts as parts

    read = [0]

    def documents():
        for item in corpus.items():
            read[0] += 1
            yield item

    at_commit: list[int] = []
    commit = parts.PartFile.commit
    monkeypatch.setattr(parts.PartFile, "commit", lambda self: (at_commit.append(read[0]), commit(self))[1])
    summary = run(splade_dir, documents(), tmp_path / "out", docs_per_file=5)
    assert at_commit == [5, 10, 15, 20, 23]
    assert summary["documents"] == 23 and summary["files"] == 5


def test_cut_parts_and_id_digests():
    records = [(str(i), "t") for i in range(7)]
    cut = [(n, [doc_id for doc_id, _ in part]) for n, part in cut_parts(records, 3)]
    assert cut == [(0, ["0", "1", "2"]), (1, ["3", "4", "5"]), (2, ["6"])]
    skipped = [n for n, _ in cut_parts(records, 3)]  # parts left unread are skipped whole
    assert skipped == [0, 1, 2]
    ids = IdSet()
    for doc_id in ["a", "b", "a", "c", "b"]:
        ids.add(doc_id)
    assert ids.repeated() == {IdSet.digest("a"), IdSet.digest("b")} and len(ids) == 5


def test_a_repeated_id_in_a_corpus_file_is_refused_before_encoding(tmp_path, corpus_file, monkeypatch):
    with corpus_file.open("a", encoding="utf-8") as handle:
        handle.write('{"_id": "doc03", "text": "again"}\n')
    import sembridge.export.vectors as vectors

    monkeypatch.setattr(vectors, "load_encoder", lambda *a, **k: pytest.fail("encoded"))
    with pytest.raises(
        SembridgeError, match=r"'doc03' appears twice .*line 4, again at corpus.jsonl line 24"
    ):
        export("unused-model-is-not-loaded", tmp_path / "out", corpus=corpus_file, device="cpu")


def test_a_repeated_id_in_a_one_pass_stream_is_refused(tmp_path, splade_dir):
    docs = iter([("a", "one"), ("b", "two"), ("a", "three")])
    with pytest.raises(SembridgeError, match="1 document id"):
        run(splade_dir, docs, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not partial_dir(tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------------
# Shards


@pytest.mark.parametrize("fmt", FORMATS)
def test_shards_together_equal_the_unsharded_export(tmp_path, splade_dir, corpus_file, fmt):
    queries = {"q1": "capital of france", "q2": "你好"}
    whole = tmp_path / "whole"
    stream = stream_corpus(corpus_file)
    run(splade_dir, stream, whole, format=fmt, queries=queries)
    shards = [tmp_path / f"shard{i}" for i in range(3)]
    summaries = [
        run(splade_dir, stream, out, format=fmt, queries=queries, shard=f"{i}/3")
        for i, out in enumerate(shards)
    ]
    assert [s["parts"] for s in summaries] == [[0, 3], [1, 4], [2, 5]]
    assert sum(s["documents"] for s in summaries) == 23 and all(s["total_parts"] == 6 for s in summaries)
    assert ("queries" in summaries[0], "queries" in summaries[1]) == (True, False)  # shard 0 writes them

    parts: dict[str, bytes] = {}
    for shard in shards:
        shard_files = files_of(shard)
        assert not set(parts) & set(shard_files) - {"mapping.json", "collection.json", "vocabulary.tsv"}
        parts.update(shard_files)
    expected = files_of(whole)
    if fmt == "seismic":  # one documents.jsonl for the whole; the shards keep their parts, in order
        joined = b"".join(parts.pop(name) for name in sorted(n for n in parts if n.startswith("documents/")))
        assert joined == expected.pop("documents.jsonl")
    assert parts == expected

    merged = merge_shards(reversed(shards), tmp_path / "merged")
    assert files_of(tmp_path / "merged") == files_of(whole)
    recorded = json.loads((whole / "export.json").read_text())
    for key in ("documents", "postings", "max_impact", "files", "queries", "mean_document_terms"):
        assert merged[key] == recorded[key], key
    assert all((shard / "export.json").is_file() for shard in shards)  # the inputs are kept


def test_merge_refuses_shards_that_do_not_make_one_export(tmp_path, splade_dir, corpus):
    a = run(splade_dir, corpus, tmp_path / "a", shard="0/2")["output"]
    b = run(splade_dir, corpus, tmp_path / "b", shard="1/2")["output"]
    other = run(splade_dir, corpus, tmp_path / "other", shard="1/2", scale=10)["output"]
    with pytest.raises(SembridgeError, match=r"\(e\.g\. part 1\)"):
        merge_shards([a], tmp_path / "m")
    with pytest.raises(SembridgeError, match="part 0 is in both"):
        merge_shards([a, a, b], tmp_path / "m")
    with pytest.raises(SembridgeError, match="their scale differ"):
        merge_shards([a, other], tmp_path / "m")
    with pytest.raises(SembridgeError, match="not a finished export"):
        merge_shards([a, tmp_path], tmp_path / "m")
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("value", ["3/3", "x", "0/0", "-1/2", "1/2/3"])
def test_a_shard_that_is_not_i_of_n_is_a_usage_error(value):
    with pytest.raises(UsageError, match="--shard"):
        Shard.parse(value)


def test_shard_parsing():
    assert Shard.parse(" 2 / 5 ") == Shard(2, 5) and Shard.parse((1, 2)) == Shard(1, 2)
    assert Shard.parse(None).whole and [p for p in range(7) if Shard(1, 3).owns(p)] == [1, 4]


# ------------------------------------------------------------------------------------------------
# Resuming


def test_a_failed_run_keeps_its_whole_parts_and_resumes_to_the_same_files(
    tmp_path, splade_dir, corpus_file, monkeypatch
):
    import sembridge.export.anserini as anserini
    import sembridge.export.vectors as vectors

    whole = tmp_path / "whole"
    run(splade_dir, stream_corpus(corpus_file), whole, queries={"q": "capital"})
    out = tmp_path / "out"
    lines = anserini.AnseriniWriter.document_lines

    def fail_at_row_13(self, row, *args):
        if row == 13:
            raise RuntimeError("the machine went away")
        return lines(self, row, *args)

    monkeypatch.setattr(anserini.AnseriniWriter, "document_lines", fail_at_row_13)
    with pytest.raises(RuntimeError):
        run(splade_dir, stream_corpus(corpus_file), out, queries={"q": "capital"})
    work = partial_dir(out)
    assert not out.exists()
    assert sorted(p.name for p in (work / "corpus").iterdir()) == [f"docs-0000{i}.jsonl" for i in range(3)]
    assert sorted(json.loads((work / "resume.json").read_text())["parts"]) == ["0", "1", "2"]

    monkeypatch.setattr(anserini.AnseriniWriter, "document_lines", lines)
    with pytest.raises(OutputExistsError, match="an unfinished run left") as refused:
        run(splade_dir, stream_corpus(corpus_file), out)
    assert "pass --resume to continue it" in refused.value.hint
    encoded: list[int] = []
    impacts = vectors._iter_impacts
    monkeypatch.setattr(
        vectors,
        "_iter_impacts",
        lambda enc, ids, *a, **k: (encoded.append(len(ids)), impacts(enc, ids, *a, **k))[1],
    )
    summary = run(splade_dir, stream_corpus(corpus_file), out, queries={"q": "capital"}, resume=True)
    assert encoded[:-1] == [4, 4, 3] and encoded[-1] == 1  # parts 3-5, then the query
    assert files_of(out) == files_of(whole) and not work.exists()
    assert summary["documents"] == 23 and summary["parts"] == list(range(6))


def test_resume_refuses_other_settings_or_another_corpus(tmp_path, splade_dir, corpus, monkeypatch):
    import sembridge.export.vectors as vectors

    out = tmp_path / "out"
    part = vectors.PartFile.commit
    calls = [0]

    def stop_after_two(self):
        calls[0] += 1
        if calls[0] > 2:
            raise KeyboardInterrupt
        part(self)

    monkeypatch.setattr(vectors.PartFile, "commit", stop_after_two)
    with pytest.raises(KeyboardInterrupt):
        run(splade_dir, corpus, out)
    monkeypatch.setattr(vectors.PartFile, "commit", part)
    with pytest.raises(SembridgeError, match=r"other settings \(scale 100.0 then, 50.0 now\)"):
        run(splade_dir, corpus, out, resume=True, scale=50.0)
    changed = {("other" if doc_id == "doc05" else doc_id): text for doc_id, text in corpus.items()}
    with pytest.raises(SembridgeError, match="part 1 of the corpus holds other documents"):
        run(splade_dir, changed, out, resume=True)
    with pytest.raises(SembridgeError, match=r"other settings \(docs_per_file 4 then, 5 now\)"):
        run(splade_dir, corpus, out, resume=True, docs_per_file=5)
    assert run(splade_dir, corpus, out, resume=True)["documents"] == 23
    again = run(splade_dir, corpus, out, resume=True)  # finished: nothing to do, same summary
    assert again["documents"] == 23 and files_of(out)
    with pytest.raises(OutputExistsError, match="other settings"):
        run(splade_dir, corpus, out, resume=True, scale=50.0)


def test_an_unfinished_run_is_restarted_by_overwrite_and_a_second_writer_refused(
    tmp_path, splade_dir, corpus
):
    out = tmp_path / "out"
    partial_dir(out).mkdir()
    (partial_dir(out) / "stale").write_text("x")
    summary = run(splade_dir, corpus, out, overwrite=True)
    assert summary["documents"] == 23 and not (out / "stale").exists() and not partial_dir(out).exists()
    with resumable_output_dir(tmp_path / "busy", resume=True):
        with pytest.raises(SembridgeError, match="another run is writing"):
            run(splade_dir, corpus, tmp_path / "busy", resume=True)
        with pytest.raises(SembridgeError, match="another run is writing"):
            run(splade_dir, corpus, tmp_path / "busy", overwrite=True)
        assert partial_dir(tmp_path / "busy").is_dir()


KILLED_EXPORT = """
import sys, time
import sentence_transformers
encode = sentence_transformers.SparseEncoder.encode_document
def slow(self, texts, **kwargs):
    time.sleep(0.4)
    return encode(self, texts, **kwargs)
sentence_transformers.SparseEncoder.encode_document = slow
from sembridge.cli.app import main
sys.argv = ["sembridge", *sys.argv[1:]]
main()
"""


@pytest.mark.e2e
def test_a_killed_export_resumes_to_the_same_files(tmp_path, splade_dir, corpus_file):
    """SIGKILL mid-way (no clean-up runs), then --resume: the files of an uninterrupted export."""
    from sembridge.cli import export as export_cmd
    from tests.cli.support import invoke

    args = ["-m", splade_dir, "--corpus", corpus_file, "--format", "qdrant", "--docs-per-file", "2"]
    args += ["--batch-size", "2", "--device", "cpu", "-q"]
    whole = tmp_path / "whole"
    assert invoke([export_cmd], "export", *args, "-o", whole).exit_code == 0
    out = tmp_path / "out"
    script = tmp_path / "slow_export.py"
    script.write_text(KILLED_EXPORT)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    process = subprocess.Popen(
        [sys.executable, str(script), "export", *map(str, args), "-o", str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    done = partial_dir(out) / "points" / "points-00002.jsonl"
    deadline = time.monotonic() + 120
    while not done.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert done.exists() and not out.exists(), "the run was not killed mid-way"
    written = json.loads((partial_dir(out) / "resume.json").read_text())["parts"]
    assert 3 <= len(written) < 12
    result = invoke([export_cmd], "export", *args, "-o", out, "--resume")
    assert result.exit_code == 0, result.output
    assert files_of(out) == files_of(whole)
    assert not partial_dir(out).exists()


def test_cli_shard_and_resume_flags(tmp_path, splade_dir, corpus_file):
    from sembridge.cli import export as export_cmd
    from tests.cli.support import invoke

    base = ["export", "-m", splade_dir, "--corpus", corpus_file, "--docs-per-file", "5", "--device", "cpu"]
    result = invoke([export_cmd], *base, "--shard", "4/2", "-o", tmp_path / "bad")
    assert isinstance(result.exception, UsageError) and "--shard 4/2 is not a shard" in str(result.exception)
    shards = []
    for i in range(2):
        result = invoke([export_cmd], *base, "--shard", f"{i}/2", "-o", tmp_path / f"s{i}", "--json")
        assert result.exit_code == 0, result.output
        shards.append(json.loads(result.output))
    assert [s["parts"] for s in shards] == [[0, 2, 4], [1, 3]]
    result = invoke([export_cmd], "merge-shards", tmp_path / "s1", tmp_path / "s0", "-o", tmp_path / "m")
    assert result.exit_code == 0, result.output
    assert "Merged 23 documents" in result.output
    assert json.loads((tmp_path / "m" / "export.json").read_text())["parts"] == [0, 1, 2, 3, 4]
    result = invoke([export_cmd], "merge-shards", tmp_path / "s1", "-o", tmp_path / "m2")
    assert "3 of the 5 parts are in none" in str(result.exception)
