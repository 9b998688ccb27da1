"""Explain a saved classifier's predictions: token attributions, and attention maps for transformers.

    python explain.py --model_dir outputs/minilm_20ng --text "The shuttle reached orbit." --output_dir explained
    python explain.py --model_dir outputs/glove_20ng --errors 10 --output_dir explained_errors
    python explain.py --model_dir outputs/demo --input articles.csv --text_column body --output_dir explained

For each text: `textNNN_tokens.png` (the top tokens' attributions as bars) and, for transformer models,
`textNNN_attention.png` (last-layer attention from [CLS], averaged over heads; `--attention_heads` adds one
column per head). `explanations.html` shows every text highlighted by attribution with its pictures, and
`attributions.jsonl` holds the tokens and scores. `--errors N` explains the N most confident mistakes of the
run's test split (its predictions.csv). Attributions are integrated gradients over the embedding layer by
default (`--method lime` for LIME); see benchmarks/README.md for why.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from inference import TextClassifier
from inference.attention import cls_attention, has_attention
from inference.attributions import METHODS, attribute
from inference.classifier import add_reading_arguments
from inference.explanation_html import attributions_html, explanation_page
from inference.explanation_plots import plot_cls_attention, plot_top_tokens
from inference.files import read_inputs
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
    parser.add_argument("--predictions", help="The predictions.csv for --errors (default: MODEL_DIR/predictions.csv).")
    parser.add_argument("--output_dir", required=True, help="Folder for the pictures, the page and the scores.")
    parser.add_argument("--label", help="The class to explain (default: each text's predicted class).")
    parser.add_argument("--method", choices=METHODS, default="integrated_gradients", help="Attribution method.")
    parser.add_argument("--n_steps", type=int, default=50, help="Integrated gradients: points on the path.")
    parser.add_argument("--n_samples", type=int, default=300, help="LIME: perturbed texts per explanation.")
    parser.add_argument("--top_k", type=int, default=15, help="Tokens in the bar chart.")
    parser.add_argument("--attention_heads", action="store_true", help="Attention map: one column per head too.")
    parser.add_argument("--no_attention", action="store_true", help="Skip the attention maps.")
    add_reading_arguments(parser)
    return parser


def check_options(options: argparse.Namespace) -> None:
    for name in ("errors", "n_steps", "n_samples", "top_k"):
        value = getattr(options, name)
        if value is not None and value <= 0:
            raise TextclsError(f"--{name} must be a positive integer, got {value}")


def most_confident_errors(path: Path, count: int) -> pd.DataFrame:
    """The `count` rows of a predictions.csv whose wrong prediction had the highest probability."""
    if not path.is_file():
        raise TextclsError(
            f"--errors reads {path}, which does not exist: run_classification.py writes it when the run has a "
            "test split; give another with --predictions"
        )
    frame = pd.read_csv(path, dtype={"gold": str, "predicted": str}, keep_default_na=False)
    missing = [column for column in ("text", "gold", "predicted") if column not in frame.columns]
    if missing:
        raise TextclsError(f"{path} has no column {', '.join(missing)}: expected a predictions.csv of a run")
    labelled = frame[frame["gold"] != ""]
    if labelled.empty:
        raise TextclsError(f"{path} has no gold labels (an unlabelled test split): --errors needs them")
    errors = labelled[labelled["gold"] != labelled["predicted"]].copy()
    absent = sorted({f"prob_{label}" for label in errors["predicted"]} - set(frame.columns))
    if absent:
        raise TextclsError(
            f"{path} has no probability column {', '.join(absent)}: expected a predictions.csv of a run, with a "
            "prob_<class> column for every class"
        )
    errors["confidence"] = [row[f"prob_{row['predicted']}"] for _, row in errors.iterrows()]
    return errors.sort_values("confidence", ascending=False, kind="stable").head(count)


def texts_to_explain(options: argparse.Namespace) -> list[tuple[str, str]]:
    """(heading, text) pairs from --text, --input or --errors."""
    if options.text:
        return [(f"Text {i + 1}", text) for i, text in enumerate(options.text)]
    if options.input:
        frame = read_inputs(options.input, options.text_column)
        return [(f"Text {i + 1}", text) for i, text in enumerate(frame["text"])]
    path = Path(options.predictions) if options.predictions else Path(options.model_dir) / "predictions.csv"
    rows = most_confident_errors(path, options.errors)
    return [
        (f"Error {i + 1}: gold {row.gold}, predicted {row.predicted} (p = {row.confidence:.3f})", row.text)
        for i, row in enumerate(rows.itertuples())
    ]


def main(argv: list[str] | None = None) -> Path:
    options = build_parser().parse_args(argv)
    check_options(options)
    classifier = TextClassifier.from_options(options)
    items = texts_to_explain(options)
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
    for number, (heading, text) in enumerate(progress, start=1):
        explained = attribute(
            classifier, text, label=options.label, method=options.method, n_steps=options.n_steps,
            n_samples=options.n_samples,
        )  # fmt: skip
        images = [plot_top_tokens(explained, output_dir / f"text{number:03d}_tokens.png", options.top_k).name]
        if with_attention:
            attention = cls_attention(classifier, text)
            path = output_dir / f"text{number:03d}_attention.png"
            images.append(plot_cls_attention(attention, path, per_head=options.attention_heads).name)
        sections.append((heading, attributions_html(explained), images))
        records.append({"heading": heading, **asdict(explained), "images": images})

    page = output_dir / "explanations.html"
    page.write_text(explanation_page(f"Explanations: {Path(options.model_dir).name}", sections), encoding="utf-8")
    with open(output_dir / "attributions.jsonl", "w", encoding="utf-8") as stream:
        for record in records:
            stream.write(json.dumps(record, ensure_ascii=False) + "\n")
    logger.info("explained %d text(s) with %s; wrote %s", len(items), options.method, page)
    return page


if __name__ == "__main__":
    sys.exit(run_cli(main))
