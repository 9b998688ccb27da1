"""Explain a saved classifier's predictions: token attributions, and attention maps for transformers.

    python explain.py --model_dir outputs/minilm_20ng --text "The shuttle reached orbit." --output_dir explained
    python explain.py --model_dir outputs/glove_20ng --errors 10 --output_dir explained_errors
    python explain.py --model_dir outputs/demo --input articles.csv --text_column body --output_dir explained

For each text: `textNNN_tokens.png` (the top tokens' attributions as bars) and, for transformer models,
`textNNN_attention.png` (last-layer attention from [CLS], averaged over heads; `--attention_heads` adds one
column per head). `explanations.html` shows every text highlighted by attribution with its pictures, and
`attributions.jsonl` holds the tokens and scores. `--errors N` explains the N most confident mistakes of the
run's test split (its predictions.csv; see `most_confident_errors` for multi-label and regression). Attributions
are integrated gradients over the embedding layer by default (`--method lime` for LIME); see benchmarks/README.md.

What is explained follows the model's problem type: a class's probability (default: the predicted class); for
multi-label, one label's probability (default: each predicted label, or the most probable one when no label reaches
its threshold; --label picks one); for regression, the predicted value. Pair models take --text_pair after each
--text, or --text_pair_column.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from inference import TextClassifier
from inference.attention import cls_attention, has_attention
from inference.attributions import METHODS, attribute_predicted
from inference.classifier import add_reading_arguments
from inference.explanation_html import attributions_html, explanation_page
from inference.explanation_plots import plot_cls_attention, plot_top_tokens
from inference.files import Chunk, read_inputs
from inference.text_pairs import PAIR, with_pair_column
from modeling import problem_types
from modeling.problem_types import LABEL_SET_SEPARATOR  # as predictions.csv writes a label set
from textcls_errors import TextclsError, run_cli

logger = logging.getLogger("explain")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", required=True, help="A folder written by run_classification.py.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", action="append", help="A text to explain (repeat for several).")
    source.add_argument("--errors", type=int, metavar="N", help="The N most confident errors in predictions.csv.")
    source.add_argument("--input", help="A file of texts (lines, .csv, .tsv, .jsonl, .parquet) or '-' for stdin.")
    parser.add_argument("--text_column", help="The column holding the texts in a table (default: text).")
    parser.add_argument("--text_pair", action="append", help="Pair models: the second text of the --text before it.")
    parser.add_argument(
        "--text_pair_column", help="Pair models: the column of second texts in --input (predictions.csv: text_pair)."
    )
    parser.add_argument("--predictions", help="The predictions.csv for --errors (default: MODEL_DIR/predictions.csv).")
    parser.add_argument("--output_dir", required=True, help="Folder for the pictures, the page and the scores.")
    parser.add_argument(
        "--label",
        help="The class or label to explain (default: the predicted class; multi-label: each predicted label, or the "
        "most probable one when none is predicted).",
    )
    parser.add_argument("--method", choices=METHODS, default="integrated_gradients", help="Attribution method.")
    parser.add_argument("--n_steps", type=int, default=50, help="Integrated gradients: points on the path.")
    parser.add_argument("--n_samples", type=int, default=300, help="LIME: perturbed texts per explanation.")
    parser.add_argument("--top_k", type=int, default=15, help="Tokens in the bar chart.")
    parser.add_argument("--attention_heads", action="store_true", help="Attention map: one column per head too.")
    parser.add_argument("--no_attention", action="store_true", help="Skip the attention maps.")
    add_reading_arguments(parser)
    return parser


def check_options(options: argparse.Namespace) -> None:
    if options.text_pair and not options.text:
        raise TextclsError("--text_pair is the second text of a --text; for an --input file give --text_pair_column")
    if options.text_pair_column and not options.input:
        raise TextclsError("--text_pair_column names a column of an --input file (--errors reads predictions.csv's)")
    for name in ("errors", "n_steps", "n_samples", "top_k"):
        value = getattr(options, name)
        if value is not None and value <= 0:
            raise TextclsError(f"--{name} must be a positive integer, got {value}")


def most_confident_errors(path: Path, count: int, config: Any = None) -> pd.DataFrame:
    """The `count` worst mistakes in a run's predictions.csv (columns text, gold, predicted, ...), with a `confidence`
    (the sort key, largest first) and an `error` description.

    - single-label: wrong class, by the probability the model gave its wrong class;
    - multi-label (gold and predicted label sets joined by '|'): rows whose sets differ, by how many labels are
      wrong (missed + extra), then by the summed distance of their probabilities from the thresholds they crossed
      (a mistake made with 0.99 is worse than one made with 0.51);
    - regression: every row with a gold value, by the absolute error |predicted - gold|.

    `config`: the model's (its problem type and thresholds); None reads a single-label run's file.
    """
    problem_type = problem_types.SINGLE_LABEL if config is None else problem_types.problem_type_of(config)
    if not path.is_file():
        raise TextclsError(
            f"--errors reads {path}, which does not exist: run_classification.py writes it when the run has a "
            "test split; give another with --predictions"
        )
    frame = pd.read_csv(path, dtype={"gold": str, "predicted": str}, keep_default_na=False)
    missing = [column for column in ("text", "gold", "predicted") if column not in frame.columns]
    if missing:
        raise TextclsError(f"{path} has no column {', '.join(missing)}: expected a predictions.csv of a run")
    # an empty multi-label gold is the empty set (a row with no label), elsewhere a row without gold
    labelled = frame.copy() if problem_type == problem_types.MULTI_LABEL else frame[frame["gold"] != ""].copy()
    if labelled.empty or (labelled["gold"] == "").all():
        raise TextclsError(f"{path} has no gold labels (an unlabelled test split): --errors needs them")
    if problem_type == problem_types.REGRESSION:
        return _largest_regression_errors(path, labelled, count)
    if problem_type == problem_types.MULTI_LABEL:
        names, values = problem_types.label_names_of(config), problem_types.decision_thresholds(config)
        thresholds = dict(zip(names, values.tolist(), strict=True))
        return _most_wrong_label_sets(path, labelled, count, thresholds)
    errors = labelled[labelled["gold"] != labelled["predicted"]].copy()
    _check_probability_columns(path, frame, set(errors["predicted"]))
    errors["confidence"] = [row[f"prob_{row['predicted']}"] for _, row in errors.iterrows()]
    errors["error"] = [f"gold {row.gold}, predicted {row.predicted} (p = {row.confidence:.3f})" for row in
                       errors.itertuples()]  # fmt: skip
    return errors.sort_values("confidence", ascending=False, kind="stable").head(count)


def _check_probability_columns(path: Path, frame: pd.DataFrame, labels: set[str]) -> None:
    absent = sorted({f"prob_{label}" for label in labels} - set(frame.columns))
    if absent:
        raise TextclsError(
            f"{path} has no probability column {', '.join(absent)}: expected a predictions.csv of a run, with a "
            "prob_<label> column for every class or label"
        )


def _largest_regression_errors(path: Path, labelled: pd.DataFrame, count: int) -> pd.DataFrame:
    gold = pd.to_numeric(labelled["gold"], errors="coerce")
    predicted = pd.to_numeric(labelled["predicted"], errors="coerce")
    bad = labelled.index[gold.isna() | predicted.isna()]
    if len(bad):
        raise TextclsError(
            f"{path}: gold/predicted are not numbers in data rows {', '.join(str(i + 1) for i in bad[:5])}: "
            "expected a regression run's predictions.csv"
        )
    errors = labelled.assign(confidence=(predicted - gold).abs())
    errors["error"] = [f"gold {g:.3f}, predicted {p:.3f} (|error| = {e:.3f})" for g, p, e in
                       zip(gold[errors.index], predicted[errors.index], errors["confidence"], strict=True)]  # fmt: skip
    return errors.sort_values("confidence", ascending=False, kind="stable").head(count)


def _label_set(value: str) -> set[str]:
    return {name for name in value.split(LABEL_SET_SEPARATOR) if name}


def _most_wrong_label_sets(
    path: Path, labelled: pd.DataFrame, count: int, thresholds: dict[str, float]
) -> pd.DataFrame:
    used = set().union(*(_label_set(v) for v in labelled["gold"]), *(_label_set(v) for v in labelled["predicted"]))
    unknown = sorted(used - set(thresholds))
    if unknown:
        raise TextclsError(f"{path} names labels {unknown} that this model does not have ({', '.join(thresholds)})")
    _check_probability_columns(path, labelled, used)
    wrong_counts, distances, descriptions = [], [], []
    for _, row in labelled.iterrows():
        gold, predicted = _label_set(row["gold"]), _label_set(row["predicted"])
        wrong = sorted(gold ^ predicted)
        wrong_counts.append(len(wrong))
        distances.append(sum(abs(float(row[f"prob_{name}"]) - thresholds[name]) for name in wrong))
        missed, extra = sorted(gold - predicted), sorted(predicted - gold)
        descriptions.append(
            f"gold {{{', '.join(sorted(gold))}}}, predicted {{{', '.join(sorted(predicted))}}}"
            + (f"; missed {', '.join(missed)}" if missed else "")
            + (f"; extra {', '.join(extra)}" if extra else "")
        )
    errors = labelled.assign(wrong_labels=wrong_counts, confidence=distances, error=descriptions)
    errors = errors[errors["wrong_labels"] > 0]
    return errors.sort_values(["wrong_labels", "confidence"], ascending=False, kind="stable").head(count)


def texts_to_explain(options: argparse.Namespace, classifier: TextClassifier) -> list[tuple[str, str, str | None]]:
    """(heading, text, second text or None) triples from --text, --input or --errors."""
    if options.text:
        pairs = options.text_pair or [None] * len(options.text)
        if len(pairs) != len(options.text):
            raise TextclsError(f"{len(options.text)} --text but {len(pairs)} --text_pair: give one after each --text")
        return [(f"Text {i + 1}", text, pair) for i, (text, pair) in enumerate(zip(options.text, pairs, strict=True))]
    if options.input:
        frame = read_inputs(options.input, options.text_column)
        if options.text_pair_column:
            frame = next(with_pair_column(iter([Chunk(frame, 0)]), options.text_pair_column, options.input)).frame
        pairs = frame[PAIR] if options.text_pair_column else [None] * len(frame)
        return [(f"Text {i + 1}", text, pair) for i, (text, pair) in enumerate(zip(frame["text"], pairs, strict=True))]
    path = Path(options.predictions) if options.predictions else Path(options.model_dir) / "predictions.csv"
    rows = most_confident_errors(path, options.errors, classifier.config)
    if classifier.reads_pairs and PAIR not in rows.columns:
        raise TextclsError(f"{path} has no {PAIR} column, which a pair model's predictions.csv holds")
    pairs = rows[PAIR].tolist() if classifier.reads_pairs else [None] * len(rows)
    return [
        (f"Error {i + 1}: {row.error}", row.text, pair)
        for i, (row, pair) in enumerate(zip(rows.itertuples(), pairs, strict=True))
    ]


def main(argv: list[str] | None = None) -> Path:
    options = build_parser().parse_args(argv)
    check_options(options)
    classifier = TextClassifier.from_options(options)
    classifier.check_pairs([] if options.text_pair or options.text_pair_column else None)
    items = texts_to_explain(options, classifier)
    if not items:
        raise TextclsError("nothing to explain: no texts given, or predictions.csv has no errors")
    output_dir = Path(options.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with_attention = has_attention(classifier) and not options.no_attention
    if not has_attention(classifier):
        logger.info(
            "%s is a %s model, which has no attention layers: writing attributions only, no attention maps",
            options.model_dir,
            classifier.config.model_type,
        )

    sections, records = [], []
    progress = tqdm(items, desc="Explaining", unit="text", disable=len(items) < 2, file=sys.stderr)
    for number, (heading, text, pair) in enumerate(progress, start=1):
        explanations = attribute_predicted(
            classifier, text, text_pair=pair, label=options.label, method=options.method, n_steps=options.n_steps,
            n_samples=options.n_samples,
        )  # fmt: skip
        for index, explained in enumerate(explanations):
            # several explanations of one text: one per predicted label of a multi-label model
            stem = f"text{number:03d}" + (f"_{_file_safe(explained.label)}" if len(explanations) > 1 else "")
            images = [plot_top_tokens(explained, output_dir / f"{stem}_tokens.png", options.top_k).name]
            if with_attention and index == 0:  # the attention map does not depend on the label
                attention = cls_attention(classifier, text, pair)
                path = output_dir / f"text{number:03d}_attention.png"
                images.append(plot_cls_attention(attention, path, per_head=options.attention_heads).name)
            title = heading + (f" · label {explained.label}" if len(explanations) > 1 else "")
            sections.append((title, attributions_html(explained), images))
            records.append({"heading": title, **asdict(explained), "images": images})

    page = output_dir / "explanations.html"
    page.write_text(explanation_page(f"Explanations: {Path(options.model_dir).name}", sections), encoding="utf-8")
    with open(output_dir / "attributions.jsonl", "w", encoding="utf-8") as stream:
        for record in records:
            stream.write(json.dumps(record, ensure_ascii=False) + "\n")
    logger.info("explained %d text(s) with %s; wrote %s", len(items), options.method, page)
    return page


def _file_safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name)[:40]


if __name__ == "__main__":
    sys.exit(run_cli(main))
