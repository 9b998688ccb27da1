"""Classify new texts with a model folder written by run_classification.py.

    python predict.py --model_dir outputs/minilm_20ng --text "The shuttle reached orbit."
    python predict.py --model_dir outputs/glove_20ng --input articles.csv --text_column body --output out.csv
    cat texts.txt | python predict.py --model_dir outputs/lstm_20ng --input -

Inputs: --text (repeatable), a file of one text per line, CSV/TSV/JSON Lines/parquet with --text_column
(default "text"), or '-' for lines on stdin. Output: JSON Lines on stdout, or --output FILE.jsonl / FILE.csv,
each row with the predicted `label`, its `score` and one `prob_<class>` column per class.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from inference import TextClassifier
from inference.classifier import add_reading_arguments
from inference.files import read_inputs, with_predictions, write_outputs
from textcls_errors import TextclsError, run_cli

logger = logging.getLogger("predict")

CHUNK = 256  # texts per progress-bar step; the model sees them in batches of --batch_size


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", required=True, help="A folder written by run_classification.py.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", action="append", help="A text to classify (repeat for several).")
    source.add_argument("--input", help="A file of texts (lines, .csv, .tsv, .jsonl, .parquet) or '-' for stdin.")
    parser.add_argument("--text_column", help="The column holding the texts in a table (default: text).")
    parser.add_argument("--output", help="Write .jsonl or .csv here instead of JSON Lines on stdout.")
    parser.add_argument("--batch_size", type=int, default=32, help="Texts per forward pass.")
    add_reading_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> pd.DataFrame:
    options = build_parser().parse_args(argv)
    if options.batch_size <= 0:
        raise TextclsError(f"--batch_size must be positive, got {options.batch_size}")
    classifier = TextClassifier.from_options(options, batch_size=options.batch_size)
    frame = pd.DataFrame({"text": options.text}) if options.text else read_inputs(options.input, options.text_column)
    texts = frame["text"].tolist()

    started = time.perf_counter()
    chunks = range(0, len(texts), CHUNK)
    show_progress = options.input is not None and len(chunks) > 1
    probabilities = [
        classifier.predict_proba(texts[start : start + CHUNK])
        for start in tqdm(chunks, desc="Classifying", unit="chunk", disable=not show_progress, file=sys.stderr)
    ]
    seconds = time.perf_counter() - started
    result = with_predictions(frame, np.concatenate(probabilities), classifier.label_names)
    write_outputs(result, options.output)
    logger.info(
        "classified %d texts in %.1f s (%.1f texts/s)%s",
        len(texts),
        seconds,
        len(texts) / max(seconds, 1e-9),
        f"; wrote {options.output}" if options.output else "",
    )
    return result


if __name__ == "__main__":
    sys.exit(run_cli(main))
