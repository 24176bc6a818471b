"""The model card (README.md) of a folder written by ``init`` or ``finetune``, and its evaluation block.

The card starts from the one sentence-transformers writes when it saves a SparseEncoder (its
front matter, its architecture, its usage section and, after fine-tuning, its training details
are kept) and adds what sembridge knows, read from its own reports and nothing else:

- ``sembridge_init.json``: the source model, the target tokenizer and its language, the method,
  the bridge and its prompt, alpha, the overlap by kind, the new tokens and the support sizes;
- ``sembridge_finetune.json``: the training data, the settings, the loss and the sparsity of
  queries and documents before and after training (with the init report of the folder it
  started from, when that folder has one);
- an ``evaluate`` report (``sembridge evaluate --update-card``): one table per data set and
  split, replaced when the same data set and split are evaluated again.

A figure the reports do not hold is written "not recorded", never guessed. The sembridge block
and each evaluation table sit between HTML comment markers, so writing the card again replaces
them and leaves the rest alone. Every write is atomic (:func:`sembridge.io.atomic_file`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sembridge.errors import SembridgeError
from sembridge.io import atomic_file

__all__ = [
    "CARD_FILE",
    "check_card_models",
    "evaluation_block",
    "finetune_block",
    "init_block",
    "render_card",
    "update_card_evaluation",
    "update_cards",
    "write_model_card",
]

CARD_FILE = "README.md"
INIT_REPORT = "sembridge_init.json"
FINETUNE_REPORT = "sembridge_finetune.json"
_START, _END = "<!-- sembridge:start -->", "<!-- sembridge:end -->"
_EVAL_HEADING = "## Evaluation"
_EVAL_START, _EVAL_END = "<!-- sembridge:evaluation:start -->", "<!-- sembridge:evaluation:end -->"
_NOT_RECORDED = "not recorded"
_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.S)


# ---------------------------------------------------------------------------------------------
# Small formatting helpers


def _cell(value: Any) -> str:
    """A table cell: ``|`` escaped, new lines flattened, ``None`` as "not recorded"."""
    if value is None or value == "":
        return _NOT_RECORDED
    return str(value).replace("|", "\\|").replace("\n", " ")


def _code(value: Any) -> str:
    return _NOT_RECORDED if value is None else f"`{value}`"


def shown_location(value: Any) -> Any:
    """A model or data location as a card may show it: a hub id as it is, a local path by its last
    component (a card travels; a machine's absolute path means nothing elsewhere)."""
    from sembridge.loading import locate, looks_like_path

    if not isinstance(value, str) or not value or value.startswith("<"):
        return value
    if looks_like_path(value) or locate(value).kind == "local":
        return Path(value.rstrip("/")).name or value
    return value


def _where(value: Any) -> str:
    return _code(shown_location(value))


def _number(value: Any, spec: str = ",") -> str:
    if value is None:
        return _NOT_RECORDED
    if isinstance(value, float) and spec == ",":
        spec = ",.4g"
    return format(value, spec)


def _table(rows: Sequence[tuple[str, str]]) -> list[str]:
    lines = ["| | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in rows]
    return lines


def _language(report: Mapping[str, Any]) -> str | None:
    """The target language: the registry's for a known tokenizer, else the report's, else None."""
    from sembridge.registry import lookup

    settings = report.get("settings", {})
    for name in (settings.get("target_tokenizer"), settings.get("target_tokenizer_resolved")):
        entry = lookup(str(name)) if name else None
        if entry is not None and entry.language:
            return entry.language
    return settings.get("language") or report.get("summary", {}).get("language")


def _script_guess(report: Mapping[str, Any]) -> str | None:
    """The language whose script holds most letters of the new tokens (ar, zh, hi, ko, ru), if any
    holds at least half of them: a guess from the script, said to be one in the card."""
    from sembridge.data.make_pairs import LANGUAGES, script_share

    text = "".join(
        r.get("token", "") for r in (report.get("tokens") or {}).values() if r.get("kind") == "new"
    )
    if not text:
        return None
    share, language = max((script_share(text, code), code) for code in LANGUAGES)
    return language if share >= 0.5 else None


def _language_cell(report: Mapping[str, Any]) -> str:
    language = _language(report)
    if language:
        return f"`{language}`"
    guess = _script_guess(report)
    return f"`{guess}` (guessed from the script of the new tokens)" if guess else _NOT_RECORDED


# ---------------------------------------------------------------------------------------------
# The blocks


def _targets(value: Any) -> str:
    """One target tokenizer, or several (``--extend -t ... -t ...``), each as :func:`_where` shows it."""
    if isinstance(value, list):
        return ", ".join(_where(v) for v in value) + f" ({len(value)} languages, in one extended vocabulary)"
    return _where(value)


def init_block(report: Mapping[str, Any]) -> list[str]:
    """Lines describing one initialisation, from its ``sembridge_init.json``."""
    settings = report.get("settings", {})
    summary = report.get("summary", {})
    info = summary.get("method_info") or {}
    method = summary.get("method") or settings.get("method")
    rows = [
        ("source model", _where(settings.get("source_resolved") or settings.get("source"))),
        (
            "target tokenizer",
            _targets(settings.get("target_tokenizer_resolved") or settings.get("target_tokenizer")),
        ),
        ("target language", _language_cell(report)),
        ("method", _code(method)),
    ]
    if "bridge" in info or "bridge" in settings:
        prompt = info.get("bridge_prompt", settings.get("bridge_prompt"))
        rows += [
            ("bridge", _where(info.get("bridge") or settings.get("bridge"))),
            ("bridge prompt", "none" if prompt in (None, "") else f"`{prompt!r}`"),
        ]
    if "alpha" in info or settings.get("alpha") is not None:
        rows.append(("Entmax alpha", _number(info.get("alpha", settings.get("alpha")), "g")))
    for key, value in sorted((settings.get("method_options") or {}).items()):
        if key not in ("alpha", "bridge", "bridge_prompt", "batch_size", "cache_dir"):
            rows.append((f"option `{key}`", _cell(value)))
    matching = [name for name in ("exact", "symbols", "fuzzy") if settings.get(name)]
    rows.append(("overlap matching", ", ".join(matching) or "none"))
    copied = summary.get("copied")
    by_kind = summary.get("copied_by_kind") or {}
    kinds = ", ".join(f"{kind} {count:,}" for kind, count in by_kind.items())
    target = summary.get("target_vocab_size")
    share = f" ({copied / target:.1%} of {target:,})" if copied is not None and target else ""
    rows.append(("rows copied (overlap)", f"{_number(copied)}{share}" + (f": {kinds}" if kinds else "")))
    rows.append(("rows built by the method", _number(summary.get("new"))))
    support = summary.get("support_size") or {}
    if support:
        rows.append(
            (
                "source tokens per new row (support)",
                f"mean {support['mean']:g}, median {support['median']:g}, "
                f"min {support['min']:,}, max {support['max']:,}",
            )
        )
    rows += [
        ("MLM decoder", _cell(summary.get("decoder"))),
        ("MLM bias of new tokens", _cell(summary.get("bias"))),
        ("seed", _cell(settings.get("seed"))),
        ("sembridge version", _cell(report.get("sembridge_version"))),
        ("created", _cell(report.get("created"))),
    ]
    return [
        "### Initialisation (`sembridge init`)",
        "",
        f"The embedding rows of tokens shared with the source vocabulary were copied; every other "
        f"row was built by the `{method}` method from source rows "
        "(see `sembridge_init.json` for each token's sources and weights).",
        "",
        *_table(rows),
    ]


_LOSS_NAMES = {
    "infonce": "InfoNCE (in-batch and mined negatives)",
    "kl": "KL divergence to the teacher's scores",
    "margin-mse": "MarginMSE on the teacher's margins",
    "infonce+kl": "InfoNCE + KL divergence to the teacher's scores",
}


def _objective(config: Mapping[str, Any], loss_class: Any) -> str:
    """The training objective as the run's settings name it (and the loss class it built)."""
    name = _LOSS_NAMES.get(str(config.get("loss") or "infonce"), str(config.get("loss")))
    if config.get("teacher"):
        name += f" (teacher `{shown_location(config['teacher'])}`)"
    text = f"{name} + FLOPs regularisation"
    return f"{text} ({loss_class})" if loss_class else text


def finetune_block(report: Mapping[str, Any]) -> list[str]:
    """Lines describing one fine-tuning run, from its ``sembridge_finetune.json``."""
    data = report.get("data", {})
    config = report.get("config", {})
    sparsity = report.get("sparsity", {})
    before, after = sparsity.get("before") or {}, sparsity.get("after") or {}

    def change(side: str, key: str, spec: str = ".1f") -> str:
        old = (before.get(side) or {}).get(key) if side else before.get(key)
        new = (after.get(side) or {}).get(key) if side else after.get(key)
        if old is None and new is None:
            return _NOT_RECORDED
        return f"{_number(old, spec)} -> {_number(new, spec)}"

    rows = [
        ("started from", _where(report.get("model"))),
        ("training data", f"{_where(data.get('train'))}, {_number(data.get('train_pairs'))} pairs"),
        (
            "evaluation data",
            "none"
            if not data.get("eval")
            else f"{_where(data.get('eval'))}, {_number(data.get('eval_pairs'))} pairs",
        ),
        ("objective", _objective(config, report.get("loss"))),
    ]
    settings = [
        ("epochs", "epochs"),
        ("max_steps", "max steps"),
        ("batch_size", "batch size per process"),
        ("grad_accum", "gradient accumulation"),
        ("learning_rate", "learning rate"),
        ("warmup_ratio", "warm-up ratio"),
        ("temperature", "InfoNCE temperature"),
        ("query_reg", "FLOPs weight, queries"),
        ("doc_reg", "FLOPs weight, documents"),
        ("reg_warmup_ratio", "FLOPs weight warm-up ratio"),
        ("max_length", "max length"),
        ("query_max_length", "query max length"),
        ("doc_max_length", "document max length"),
        ("precision", "precision"),
        ("seed", "seed"),
        ("lexical_weight", "lexical weight (BM25 of each text's own pieces)"),
    ]
    rows += [(label, _cell(config[key])) for key, label in settings if config.get(key) is not None]
    rows += [
        ("processes", _cell(report.get("world_size"))),
        ("effective batch", _cell(report.get("effective_batch_size"))),
        ("steps done", _number(report.get("global_step"))),
        ("final training loss", _number(report.get("train_loss"), ".4f")),
        ("training time", f"{report['runtime_s']:,.0f} s" if report.get("runtime_s") else _NOT_RECORDED),
        ("active query terms, mean (before -> after)", change("queries", "active_terms_mean")),
        ("active document terms, mean (before -> after)", change("documents", "active_terms_mean")),
        ("expected FLOPs per query-document pair (before -> after)", change("", "expected_flops", ".3f")),
        ("sparsity measured on", f"{_number(sparsity.get('sample_pairs'))} training pairs"),
    ]
    return [
        "### Fine-tuning (`sembridge finetune`)",
        "",
        "The full settings are in `training_args.json` and `sembridge_finetune.json` "
        "(loss and evaluation curves).",
        "",
        *_table(rows),
        *(_LEXICAL_NOTE if config.get("lexical_weight") is not None else []),
    ]


_LEXICAL_NOTE = [
    "",
    "Its vectors add BM25's weights of each text's own pieces to the learned ones (the module "
    "`sembridge.training.lexical.LexicalWeights`, IDF fitted on the training documents). Load it "
    "with sembridge installed: `sembridge.loading.load_sparse_encoder(path)`, or "
    "`SparseEncoder(path, trust_remote_code=True)`.",
]


def _intro(init_report: Mapping[str, Any] | None, finetune_report: Mapping[str, Any] | None) -> str:
    language = _language(init_report) if init_report else None
    settings = (init_report or {}).get("settings", {})
    source = settings.get("source_resolved") or settings.get("source")
    text = f"A SPLADE sparse encoder for `{language}`" if language else "A SPLADE sparse encoder"
    text += f", adapted from the English `{shown_location(source)}`" if source else ""
    text += (
        " by sembridge (SemBridge: language transfer in sparse encoders via multilingual semantic bridges)."
    )
    if finetune_report:
        return text + " It was initialised by `sembridge init`, then fine-tuned by `sembridge finetune`."
    return (
        text + " It was initialised by `sembridge init` and has **not been trained** on the target "
        "language: `sembridge finetune` trains it."
    )


def _sembridge_section(
    init_report: Mapping[str, Any] | None, finetune_report: Mapping[str, Any] | None
) -> list[str]:
    lines = [_START, "## How this model was made (sembridge)", "", _intro(init_report, finetune_report), ""]
    if init_report:
        lines += [*init_block(init_report), ""]
    elif finetune_report:
        lines += ["The folder it was fine-tuned from holds no `sembridge_init.json`.", ""]
    if finetune_report:
        lines += [*finetune_block(finetune_report), ""]
    lines.append(_END)
    return lines


def evaluation_block(report: Mapping[str, Any], model_entry: Mapping[str, Any]) -> list[str]:
    """One data set's table: the model's rows (every pruning setting), then the baselines' rows."""
    dataset = report.get("dataset", {})
    metrics = list(report.get("config", {}).get("metrics") or [])
    key = f"{shown_location(dataset.get('source'))}|{dataset.get('split')}"
    header = ["model", "pruning", *metrics, "query terms", "doc terms", "FLOPs"]
    lines = [
        f"<!-- sembridge:evaluation:{key} -->",
        f"### `{shown_location(dataset.get('source'))}` ({dataset.get('split')} split)",
        "",
        f"{_number(dataset.get('queries'))} queries, {_number(dataset.get('documents'))} documents, "
        f"{dataset.get('format', 'unknown')} format; exact retrieval of the top "
        f"{report.get('config', {}).get('top_k')}; evaluated {report.get('created')} "
        f"with sembridge {report.get('sembridge_version')}.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    entries = [model_entry] + [m for m in report.get("models", []) if m.get("kind") in ("bm25", "dense")]
    for entry in entries:
        name = "this model" if entry is model_entry else f"{entry['name']} ({entry['kind']}, reference)"
        for row in entry.get("results", []):
            values = [_figure(row.get("metrics", {}).get(m), ".4f") for m in metrics]
            values += [_figure(row.get(k), ".1f") for k in ("query_terms", "doc_terms")]
            values.append(_figure(row.get("flops"), ".2f"))
            lines.append("| " + " | ".join([_cell(name), _cell(row.get("setting")), *values]) + " |")
    lines.append(f"<!-- sembridge:evaluation:{key}:end -->")
    return lines


def _figure(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


# ---------------------------------------------------------------------------------------------
# The card


def _split_front_matter(text: str) -> tuple[str, str]:
    match = _FRONT_MATTER.match(text)
    return (match.group(1), text[match.end() :]) if match else ("", text)


def _front_matter(
    existing: str,
    init_report: Mapping[str, Any] | None,
    finetune_report: Mapping[str, Any] | None = None,
) -> str:
    """The YAML header the Hub indexes: sembridge's tag, and when known the target ``language``,
    the source as ``base_model`` (a hub id), the training data as ``datasets`` (a hub id) and the
    source's ``license``; what the header held already is kept."""
    import yaml

    from sembridge.loading import locate

    data = yaml.safe_load(existing) if existing.strip() else {}
    data = data if isinstance(data, dict) else {}
    tags = list(data.get("tags") or [])
    if "sembridge" not in tags:
        tags.append("sembridge")
    data["tags"] = tags
    if init_report:
        language = _language(init_report)
        if language:
            data["language"] = [language]
        settings = init_report.get("settings", {})
        source = str(settings.get("source_resolved") or settings.get("source") or "")
        if source and locate(source).kind == "hub":  # a local path is no base model for the hub
            data["base_model"] = source
        license_name = source_license(source) if source else None
        if license_name and "license" not in data:
            data["license"] = license_name
    train = ((finetune_report or {}).get("data") or {}).get("train")
    if isinstance(train, str):
        from sembridge.data.hub import is_hub_id, split_hub_id

        if is_hub_id(train):
            data["datasets"] = [split_hub_id(train)[0]]
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).strip()


def source_license(source: str) -> str | None:
    """The ``license`` of the source model's card: a local folder's README.md, or a hub id's card
    in the local hub cache (nothing is downloaded); None when unknown."""
    import yaml

    from sembridge.loading import locate

    found = locate(source)
    card: Path | None = None
    if found.kind == "local":
        card = found.path / CARD_FILE
    elif found.kind == "hub":
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(found.resolved, CARD_FILE)
        except Exception:  # an id the cache cannot hold
            cached = None
        card = Path(cached) if isinstance(cached, str) else None
    if card is None or not card.is_file():
        return None
    try:
        header = yaml.safe_load(_split_front_matter(card.read_text(encoding="utf-8"))[0] or "") or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    value = header.get("license") if isinstance(header, dict) else None
    return str(value) if value else None


def _replace_between(text: str, start: str, end: str, block: str) -> str | None:
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i:
        return None
    return text[:i] + block + text[j + len(end) :]


def render_card(
    base: str,
    *,
    init_report: Mapping[str, Any] | None = None,
    finetune_report: Mapping[str, Any] | None = None,
) -> str:
    """The card: ``base`` (the sentence-transformers card, or an earlier sembridge card) with the
    sembridge section put in (or replaced), the front matter completed, and the rest kept.

    sentence-transformers' opening sentence ("trained using the sentence-transformers library")
    is replaced by sembridge's, which says whether the model was trained.
    """
    front, body = _split_front_matter(base)
    section = "\n".join(_sembridge_section(init_report, finetune_report))
    replaced = _replace_between(body, _START, _END, section)
    if replaced is not None:
        body = replaced
    else:
        lines = body.splitlines()
        title = next((i for i, line in enumerate(lines) if line.startswith("# ")), None)
        details = next((i for i, line in enumerate(lines) if line.startswith("## ")), len(lines))
        if title is None:
            head, rest = ["# SPLADE Sparse Encoder"], lines
        else:
            # Keep the title, drop sentence-transformers' generic opening paragraph.
            head, rest = lines[: title + 1], lines[details:] if details > title else lines[title + 1 :]
        body = "\n".join([*head, "", section, "", *rest])
        if not rest:
            body += _usage_fallback()
    header = _front_matter(front, init_report, finetune_report)
    return f"---\n{header}\n---\n\n{body.lstrip()}".rstrip() + "\n"


def _usage_fallback() -> str:
    return (
        "\n## Usage\n\n```python\nfrom sentence_transformers import SparseEncoder\n\n"
        'model = SparseEncoder("path/to/this/folder")\nvectors = model.encode(["some text"])\n```\n'
    )


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SembridgeError(
            f"'{path}' cannot be read: {err}", hint="the folder is damaged: write it again"
        ) from err


def write_model_card(
    folder: str | Path,
    *,
    init_report: Mapping[str, Any] | None = None,
    finetune_report: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``folder``/README.md from the card already there (sentence-transformers') and the reports.

    After fine-tuning, the init report is looked up in the folder the run started from
    (``finetune_report["model"]``) when it is not given.
    """
    folder = Path(folder)
    if init_report is None and finetune_report is not None:
        started = finetune_report.get("model")
        if isinstance(started, str) and Path(started).is_dir():
            init_report = _read_json(Path(started) / INIT_REPORT)
    if init_report is None and finetune_report is None:
        init_report = _read_json(folder / INIT_REPORT)
    path = folder / CARD_FILE
    base = path.read_text(encoding="utf-8") if path.is_file() else ""
    text = render_card(base, init_report=init_report, finetune_report=finetune_report)
    with atomic_file(path) as handle:
        handle.write(text)
    return path


def update_card_evaluation(
    folder: str | Path, report: Mapping[str, Any], model_entry: Mapping[str, Any]
) -> Path:
    """Put one evaluation (this model's rows on one data set and split) into ``folder``/README.md.

    A table for the same data set and split is replaced; tables of other data sets stay. A
    folder with no card gets one (sembridge section from its reports, if any).
    """
    folder = Path(folder)
    path = folder / CARD_FILE
    if not path.is_file():
        write_model_card(folder, finetune_report=_read_json(folder / FINETUNE_REPORT))
    text = path.read_text(encoding="utf-8")
    block = evaluation_block(report, model_entry)
    start, end = block[0], block[-1]
    replaced = _replace_between(text, start, end, "\n".join(block))
    if replaced is None and _EVAL_START in text and _EVAL_END in text:  # another data set's table
        end_at = text.find(_EVAL_END)
        replaced = text[:end_at].rstrip("\n") + "\n\n" + "\n".join(block) + "\n" + text[end_at:]
    elif replaced is None:  # the first evaluation: a section after sembridge's, or at the end
        new = "\n".join([_EVAL_START, _EVAL_HEADING, "", *block, _EVAL_END])
        anchor = text.find(_END)
        if anchor >= 0:
            anchor += len(_END)
            replaced = text[:anchor] + "\n\n" + new + text[anchor:]
        else:
            replaced = text.rstrip("\n") + "\n\n" + new + "\n"
    front, body = _split_front_matter(replaced)
    header = model_index_header(front, report, model_entry, folder.name)
    with atomic_file(path) as handle:
        handle.write(f"---\n{header}\n---\n{body}")
    return path


_METRIC_TYPES = {"ndcg": "ndcg", "r": "recall", "p": "precision", "rr": "mrr", "ap": "map"}


def hub_metric_type(name: str) -> str:
    """An ir-measures name as the Hub's ``model-index`` spells metric types: ``nDCG@10`` ->
    ``ndcg_at_10``, ``R@100`` -> ``recall_at_100``, ``RR`` -> ``mrr``."""
    measure, _, cutoff = str(name).partition("@")
    base = measure.split("(")[0].lower()
    kind = _METRIC_TYPES.get(base, base)
    return f"{kind}_at_{cutoff}" if cutoff else kind


def model_index_header(
    front: str, report: Mapping[str, Any], model_entry: Mapping[str, Any], model_name: str
) -> str:
    """The YAML header with this evaluation in the Hub's ``model-index`` (task, dataset, metrics of
    the unpruned row), so the figures show on the model page; the entry for the same data set and
    split is replaced, the others kept."""
    import yaml

    data = yaml.safe_load(front) if front.strip() else {}
    data = data if isinstance(data, dict) else {}
    dataset = report.get("dataset", {})
    name = str(shown_location(dataset.get("name") or dataset.get("source")) or "not recorded")
    split = dataset.get("split")
    rows = [r for r in model_entry.get("results", []) if r.get("setting") in (None, "none")]
    rows = rows or list(model_entry.get("results", []))[:1]
    metrics = [
        {"type": hub_metric_type(m), "value": round(float(v), 4), "name": m}
        for m, v in (rows[0].get("metrics", {}) if rows else {}).items()
        if v is not None
    ]
    result = {
        "task": {"type": "text-retrieval", "name": "Retrieval"},
        "dataset": {"name": name, "type": name, "split": split},
        "metrics": metrics,
    }
    index = data.get("model-index")
    entries = index if isinstance(index, list) and index and isinstance(index[0], dict) else []
    if not entries:
        entries = [{"name": model_name, "results": []}]
    results = [
        r
        for r in entries[0].get("results") or []
        if not (isinstance(r, dict) and (r.get("dataset") or {}).get("name") == name
                and (r.get("dataset") or {}).get("split") == split)
    ]  # fmt: skip
    entries[0]["results"] = [*results, result]
    data["model-index"] = entries
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).strip()


def check_card_models(models: Sequence[Any]) -> list[Path]:
    """The folders whose cards ``evaluate --update-card`` will update: every model must be a
    local folder (a hub id has no card here to update). Checked before any model is loaded."""
    from sembridge.loading import locate

    folders = []
    for model in models:
        found = locate(model) if isinstance(model, (str, Path)) else None
        if found is None or found.kind != "local" or not found.path.is_dir():
            raise SembridgeError(
                f"--update-card needs model folders, and '{model}' is not a local folder",
                hint="leave --update-card out, or evaluate a local copy of that model",
            )
        if not written_by_sembridge(found.path):
            raise SembridgeError(
                f"--update-card updates only cards that sembridge wrote, and '{model}' holds neither "
                f"{INIT_REPORT} nor {FINETUNE_REPORT}",
                hint="leave --update-card out: the results are in the report (--output)",
            )
        folders.append(found.path)
    return folders


def written_by_sembridge(folder: str | Path) -> bool:
    """Whether ``folder`` was written by ``sembridge init`` or ``finetune`` (it holds their report):
    only such a card may say how the model was made."""
    return any((Path(folder) / name).is_file() for name in (INIT_REPORT, FINETUNE_REPORT))


def update_cards(report: Mapping[str, Any], folders: Sequence[Path]) -> list[Path]:
    """Put each sparse model's results of an ``evaluate`` report into its folder's card, in the
    order of ``report["models"]`` (the models come first, then the baselines)."""
    if not folders:
        return []
    sparse = [entry for entry in report.get("models", []) if entry.get("kind", "sparse") == "sparse"]
    return [
        update_card_evaluation(folder, report, entry) for folder, entry in zip(folders, sparse, strict=True)
    ]
