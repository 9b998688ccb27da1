"""The config parser: JSON first, flags override, unknown keys and bad values named."""

import json
from pathlib import Path

import pytest

from textcls_errors import TextclsError
from training.arguments import parse_arguments

REPO = Path(__file__).resolve().parent.parent


def write_config(tmp_path, **settings):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_name_or_path": "some/model", "output_dir": str(tmp_path / "out"), **settings}))
    return str(path)


def test_json_settings_reach_the_dataclasses(tmp_path):
    config = write_config(
        tmp_path,
        dataset_name="20newsgroups",
        categories=["sci.space", "rec.autos"],
        learning_rate=3e-5,
        pad_to_max_length=True,
        lr_scheduler_kwargs={"num_cycles": 2},
    )
    model_args, data_args, _, _, training_args = parse_arguments([config])
    assert model_args.model_name_or_path == "some/model"
    assert data_args.categories == ["sci.space", "rec.autos"]
    assert data_args.pad_to_max_length is True
    assert training_args.learning_rate == 3e-5
    assert training_args.lr_scheduler_kwargs == {"num_cycles": 2}


def test_command_line_flags_override_the_json(tmp_path):
    config = write_config(tmp_path, learning_rate=3e-5, categories=["sci.space"], num_train_epochs=4)
    _, data_args, _, _, training_args = parse_arguments(
        [config, "--learning_rate", "1e-4", "--categories", "rec.autos", "sci.med"]
    )
    assert training_args.learning_rate == 1e-4
    assert data_args.categories == ["rec.autos", "sci.med"]
    assert training_args.num_train_epochs == 4  # untouched by the flags


def test_classification_defaults(tmp_path):
    _, _, _, _, training_args = parse_arguments([write_config(tmp_path)])
    assert training_args.metric_for_best_model == "macro_f1"
    assert training_args.load_best_model_at_end is True
    assert training_args.train_sampling_strategy == "group_by_length"
    assert str(training_args.eval_strategy) in ("epoch", "IntervalStrategy.EPOCH")
    assert training_args.do_train and training_args.do_eval and training_args.do_predict


def test_unknown_keys_are_named(tmp_path):
    with pytest.raises(TextclsError, match="learning_rat, max_len"):
        parse_arguments([write_config(tmp_path, learning_rat=1e-4, max_len=12)])


def test_misspelt_flags_are_named_with_a_suggestion_and_never_abbreviations(tmp_path):
    config = write_config(tmp_path)
    with pytest.raises(TextclsError, match=r"--learning_rat \(did you mean --learning_rate\?\)"):
        parse_arguments([config, "--learning_rat", "0.01"])  # argparse alone would take it for --learning_rate
    with pytest.raises(TextclsError, match=r"--learnig_rate \(did you mean --learning_rate\?\)"):
        parse_arguments([config, "--learnig_rate=0.01"])
    assert parse_arguments([config, "--learning-rate", "0.01", "--no_embedding_projection"])[-1].learning_rate == 0.01


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--learning_rate", "-0.01"], "learning_rate=-0.01: expected a positive number"),
        (["--num_train_epochs", "-1"], "num_train_epochs=-1.0: expected a positive number of epochs"),
    ],
)
def test_training_needs_a_positive_rate_and_length(tmp_path, flags, message):
    with pytest.raises(TextclsError, match=message):
        parse_arguments([write_config(tmp_path), *flags])


def test_missing_and_malformed_config(tmp_path):
    with pytest.raises(TextclsError, match="config file not found"):
        parse_arguments([str(tmp_path / "nope.json")])
    bad = tmp_path / "bad.json"
    bad.write_text('{"model_name_or_path": "x",}')
    with pytest.raises(TextclsError, match="not valid JSON"):
        parse_arguments([str(bad)])


def test_bad_truncation_side(tmp_path):
    with pytest.raises(TextclsError, match="truncation_side must be one of head, tail, head\\+tail"):
        parse_arguments([write_config(tmp_path, truncation_side="middle")])


@pytest.mark.parametrize("config", sorted(path.name for path in (REPO / "configs").glob("*.json")))
def test_every_shipped_config_parses(config):
    """A key renamed in the dataclasses but not in a shipped config would fail here, not in a user's run."""
    model_args, data_args, _, _, training_args = parse_arguments([str(REPO / "configs" / config)])
    assert (model_args.model_name_or_path is None) != (model_args.model_type is None)
    assert data_args.dataset_name in ("20newsgroups", "ag_news") or data_args.train_file is not None
    assert training_args.output_dir == f"outputs/{config.removesuffix('.json')}"


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--embedding_eval_every", "-1"], "expected 0"),
        (
            ["--embedding_eval_every", "2", "--eval_strategy", "no", "--load_best_model_at_end", "false"],
            "eval_strategy",
        ),
        (["--embedding_sample_size", "1"], "2 documents or more"),
    ],
)
def test_embedding_settings_are_checked(flags, message, tmp_path):
    with pytest.raises(TextclsError, match=message):
        parse_arguments([write_config(tmp_path), *flags])
