"""How a saved model reads a text: the word-level cleaning and the cut of long texts its training recorded in its
config.json (`text_cleaning`, `text_truncation`).

Training writes the record here (`record_reading`); whatever reads a folder again asks here (`saved_reading`):
prediction, explanation, the demo page, export, embedding projections, and runs that evaluate a folder without
training it (`read_as_recorded`), so that a model is never fed text prepared otherwise than in training.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

from data_scripts.text_cleaning import TextCleaning, check_stopwords, stopwords_record
from training.arguments import read_config

logger = logging.getLogger(__name__)

CLEANING_STEPS = ("simple_preprocess", "remove_stopwords", "wordnet_filter", "stem")
# run_classification.py's setting -> its key in the text_truncation record
TRUNCATION_KEYS = {"max_seq_length": "max_seq_length", "truncation_side": "side", "head_tokens": "head_tokens"}


def record_reading(config, cleaning: TextCleaning, max_seq_length: int, side: str, head_tokens: int | None) -> None:
    """Write how training read its text into a model's config (always both records, so that a model trained further
    from an earlier folder does not keep that run's). The stop-word list is recorded by source and hash."""
    record: dict[str, Any] | None = cleaning.as_config() if cleaning.changes_text else None
    if record is not None and cleaning.remove_stopwords:
        record["stopwords"] = stopwords_record()
    config.text_cleaning = record
    config.text_truncation = {"max_seq_length": max_seq_length, "side": side, "head_tokens": head_tokens}


@dataclass(frozen=True)
class SavedReading:
    """A folder's record: `cleaning` None is raw text; `truncation` None is a folder trained before it was saved."""

    cleaning: dict[str, Any] | None
    truncation: dict[str, Any] | None

    def cleaning_options(self, wordnet_dir: str | None = None) -> TextCleaning | None:
        """The cleaning to apply before this model, after checking that this machine has training's stop words."""
        if not self.cleaning:
            return None
        steps = {name: bool(self.cleaning.get(name, False)) for name in CLEANING_STEPS}
        if steps["remove_stopwords"]:
            check_stopwords(self.cleaning.get("stopwords"))
        return TextCleaning(**steps, wordnet_dir=wordnet_dir if steps["wordnet_filter"] else None)


def saved_reading(config) -> SavedReading:
    """The reading recorded in a model's config (a PretrainedConfig)."""
    return SavedReading(
        getattr(config, "text_cleaning", None) or None, getattr(config, "text_truncation", None) or None
    )


def given_settings(argv: list[str]) -> set[str]:
    """The settings a run's command line names explicitly (config file keys with a value, and flags)."""
    names = set()
    if argv and argv[0].endswith(".json"):
        names = {key for key, value in read_config(argv[0]).items() if value is not None}
    flags = {arg[2:].split("=")[0] for arg in argv if arg.startswith("--")}
    return names | flags | {flag[3:] for flag in flags if flag.startswith("no_")}


def read_as_recorded(config, source: str, cleaning: TextCleaning, data_args, given: set[str]):
    """(cleaning, data_args) for evaluating a saved model without training it: its recorded reading, except for the
    settings given explicitly (which win, with a warning when they differ from the record)."""
    reading = saved_reading(config)
    if reading.truncation is None and reading.cleaning is None:
        logger.warning(
            "%s does not record how it read text in training: evaluating with this run's settings (%s)",
            source,
            describe(cleaning, data_args),
        )
        return cleaning, data_args
    recorded: dict[str, Any] = {step: bool((reading.cleaning or {}).get(step, False)) for step in CLEANING_STEPS}
    for setting, key in TRUNCATION_KEYS.items():
        if reading.truncation is not None and key in reading.truncation:
            recorded[setting] = reading.truncation[key]
    current = {name: getattr(cleaning if name in CLEANING_STEPS else data_args, name) for name in recorded}
    overridden = {name for name, value in recorded.items() if name in given and current[name] != value}
    for name in sorted(overridden):
        logger.warning(
            "%s was trained with %s=%r, but this run sets %s=%r: evaluating with %r as asked (the model reads text "
            "otherwise than in training)",
            source,
            name,
            recorded[name],
            name,
            current[name],
            current[name],
        )
    use = {name: value for name, value in recorded.items() if name not in overridden}
    steps = {name: use[name] for name in CLEANING_STEPS if name in use}
    wordnet_dir = cleaning.wordnet_dir if steps.get("wordnet_filter", cleaning.wordnet_filter) else None
    cleaning = dataclasses.replace(cleaning, **steps, wordnet_dir=wordnet_dir)
    if "remove_stopwords" in steps and cleaning.remove_stopwords:
        check_stopwords((reading.cleaning or {}).get("stopwords"))
    data_args = dataclasses.replace(data_args, **{name: use[name] for name in TRUNCATION_KEYS if name in use})
    logger.info("evaluating %s with the text reading it was trained with: %s", source, describe(cleaning, data_args))
    return cleaning, data_args


def describe(cleaning: TextCleaning, data_args) -> str:
    steps = [name for name in CLEANING_STEPS if getattr(cleaning, name)]
    cut = f"max_seq_length {data_args.max_seq_length}, truncation_side {data_args.truncation_side}"
    if data_args.truncation_side == "head+tail" and data_args.head_tokens is not None:
        cut += f" (head_tokens {data_args.head_tokens})"
    return f"cleaning {' + '.join(steps) or 'off'}; {cut}"
