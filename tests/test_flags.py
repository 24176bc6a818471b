"""Flags declared once, on the settings dataclasses: the command line, the resume check and the
library all read the same declarations (sembridge.flags)."""

from __future__ import annotations

import dataclasses
import re

import pytest
from typer.testing import CliRunner

from sembridge.cli.app import app
from sembridge.data import DataOptions
from sembridge.flags import declared_flags, flag_name
from sembridge.training import FinetuneConfig


def help_flags(*command: str) -> set[str]:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "300", "TERMINAL_WIDTH": "300"})
    assert result.exit_code == 0, result.output
    return set(re.findall(r"--[a-z0-9][a-z0-9-]*", result.output))


def test_every_declared_flag_is_a_finetune_option():
    shown = help_flags("finetune")
    for cls in (FinetuneConfig, DataOptions):
        for declared in declared_flags(cls).values():
            assert declared.name in shown, declared.name
            if declared.negatable:
                assert f"--no-{declared.name[2:]}" in shown


def test_flag_names_are_read_from_the_declarations():
    assert flag_name(FinetuneConfig, "learning_rate") == "--lr"
    assert flag_name(FinetuneConfig, "dataloader_workers") == "--workers"
    assert flag_name(DataOptions, "config_name") == "--data-config"
    # Fields the command line does not set declare no flag.
    assert {"precision", "gather_across_devices", "find_unused_parameters"}.isdisjoint(
        declared_flags(FinetuneConfig)
    )


def test_each_flag_sets_its_field(tmp_path, monkeypatch):
    """Every declared flag, given a value unlike its default, reaches the config the library gets."""
    import sembridge.training as training

    seen = {}

    def fake_finetune(model, data, output, config, **kwargs):
        seen.update(
            config=config, data_options=kwargs["data_options"], eval_options=kwargs["eval_data_options"]
        )
        raise SystemExit(0)

    monkeypatch.setattr(training, "finetune", fake_finetune)
    values = {
        "epochs": "2.5",
        "max_steps": "7",
        "batch_size": "3",
        "grad_accum": "2",
        "max_length": "64",
        "query_max_length": "16",
        "doc_max_length": "32",
        "learning_rate": "0.001",
        "warmup_ratio": "0.2",
        "weight_decay": "0.01",
        "temperature": "0.5",
        "query_reg": "0.1",
        "doc_reg": "0.2",
        "reg_warmup_ratio": "0.5",
        "seed": "7",
        "eval_steps": "3",
        "save_steps": "4",
        "save_total_limit": "5",
        "logging_steps": "6",
        "checkpoint_dir": str(tmp_path / "ck"),
        "device": "cpu",
        "dataloader_workers": "1",
        "stats_sample_size": "9",
        "layout": "pairs",
        "query_column": "q",
        "positive_column": "p",
        "negative_column": "n",
        "language": "ru",
        "language_column": "lang",
        "split": "dev",
        "config_name": "cfg",
        "limit": "11",
        "max_negatives": "2",
        "loss": "kl",
        "teacher": "bm25",
        "teacher_temperature": "0.2",
        "student_temperature": "2.0",
        "margin_scale": "10",
        "mini_batch_size": "4",
        "lexical_weight": "1.5",
    }
    switches = {
        "resume", "keep_checkpoints", "overwrite", "show_progress", "negatives", "resume_changed", "cached",
        "paragraph_groups",
    }  # fmt: skip
    args = ["finetune", "-m", "m", "-d", "d.jsonl", "-o", str(tmp_path / "out")]
    flags = {**declared_flags(FinetuneConfig), **declared_flags(DataOptions)}
    assert set(flags) == set(values) | switches, set(flags) ^ (set(values) | switches)
    for name, value in values.items():
        args += [flags[name].name, value]
    args += ["--resume", "--resume-changed", "--keep-checkpoints", "--overwrite", "--quiet", "--no-negatives"]
    args += ["--cached", "--paragraph-groups"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    config, options = seen["config"], seen["data_options"]
    for cls, obj in ((FinetuneConfig, config), (DataOptions, options)):
        defaults = cls()
        for name in declared_flags(cls):
            assert getattr(obj, name) != getattr(defaults, name), name
    assert config.learning_rate == 0.001 and config.show_progress is False and options.negatives is False
    assert seen["eval_options"].split == "dev" and seen["eval_options"].limit is None


def test_run_settings_are_keyed_by_the_declared_flags():
    from datasets import Dataset

    from sembridge.training.run_settings import OPTIMISATION_FIELDS, run_settings

    config = FinetuneConfig(learning_rate=1e-4, max_length=128, query_max_length=32)
    settings = run_settings(config, Dataset.from_dict({"query": ["a"], "positive": ["b"]}), 1)
    assert [k for k in settings if k.startswith("--")] == [
        flag_name(FinetuneConfig, n) for n in OPTIMISATION_FIELDS
    ]
    assert (
        settings["--lr"] == 1e-4
        and settings["--query-max-length"] == 32
        and settings["--doc-max-length"] == 128
    )


def test_a_minimum_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(
        app, ["finetune", "-m", "m", "-d", "d", "-o", str(tmp_path / "o"), "--batch-size", "0"]
    )
    assert result.exit_code == 2 and "--batch-size" in result.output


def test_declarations_survive_replace():
    options = dataclasses.replace(DataOptions(), split="dev")
    assert options.split == "dev" and declared_flags(type(options))["split"].name == "--split"


@pytest.mark.parametrize(
    "command",
    [
        ["init"],
        ["finetune"],
        ["evaluate"],
        ["export"],
        ["pairs"],
        ["models"],
        ["inspect-token"],
        ["inspect-text"],
        ["tokenizer", "train"],
        ["tokenizer", "cut"],
    ],
)
def test_every_command_has_json_output(command):
    assert "--json" in help_flags(*command)


def test_models_json_lists_the_registry():
    import json

    from sembridge.registry import entries

    result = CliRunner().invoke(app, ["models", "--json", "--role", "bridge"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [e["hub_id"] for e in listed] == [e.hub_id for e in entries("bridge")]
