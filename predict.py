"""Classify new texts with a model folder written by run_classification.py.

    python predict.py --model_dir outputs/minilm_20ng --text "The shuttle reached orbit."
    python predict.py --model_dir outputs/glove_20ng --input articles.csv --text_column body --output out.csv
    cat texts.txt | python predict.py --model_dir outputs/lstm_20ng --input -

Inputs: --text (repeatable), a file of one text per line, CSV/TSV/JSON Lines/parquet with --text_column
(default "text"), or '-' for lines on stdin; a pair model (trained with text_pair) also needs each row's second
text (--text_pair_column, or --text_pair after each --text). Output: JSON Lines on stdout, or --output FILE.jsonl /
FILE.csv, each row with the model's answer (inference/outputs.py): single-label, the predicted `label`, its `score`
and one `prob_<class>` column per class; multi-label, the predicted set `labels` ("joy|optimism", the thresholds of
config.json applied) and one `prob_<label>` column per label; regression, the `value`. Rows without text are kept
and left unclassified (empty prediction columns), and named in a warning.

Files of any size are read and written a chunk of rows at a time (--chunk_size): memory stays flat, each chunk
is sorted by length into batches and written back in input order, and a killed run leaves a valid prefix that
--resume continues. --backend picks what computes the logits (see README, "Inference").
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
import time
from pathlib import Path

from tqdm.auto import tqdm

from inference import TextClassifier
from inference.classifier import add_reading_arguments
from inference.files import Chunk, PredictionWriter, estimate_rows, read_chunks, with_predictions
from inference.outputs import prediction_columns
from inference.text_pairs import PAIR, empty_pair_rows, pairs_frame, with_pair_column
from textcls_errors import TextclsError, run_cli

logger = logging.getLogger("predict")

SHOWN_ROWS = 10  # empty rows named in the warning


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", required=True, help="A folder written by run_classification.py.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", action="append", help="A text to classify (repeat for several).")
    source.add_argument("--input", help="A file of texts (lines, .csv, .tsv, .jsonl, .parquet) or '-' for stdin.")
    parser.add_argument("--text_column", help="The column holding the texts in a table (default: text).")
    parser.add_argument(
        "--text_pair_column",
        help="Pair models (trained with text_pair): the column holding each row's second text.",
    )
    parser.add_argument(
        "--text_pair",
        action="append",
        help="Pair models: the second text of the --text before it (repeat once per --text).",
    )
    parser.add_argument("--output", help="Write .jsonl or .csv here instead of JSON Lines on stdout.")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="Continue an interrupted run: keep the complete rows already in --output and classify the rest.",
    )
    parser.add_argument("--batch_size", type=int, default=32, help="Texts per forward pass.")
    parser.add_argument(
        "--chunk_size", type=int, default=4096, help="Rows read, sorted into batches and written at a time."
    )
    add_reading_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> dict:
    """Classify and write; returns a summary (rows, empty rows, seconds, backend)."""
    options = build_parser().parse_args(argv)
    for name in ("batch_size", "chunk_size"):
        if getattr(options, name) <= 0:
            raise TextclsError(f"--{name} must be positive, got {getattr(options, name)}")
    if options.text_pair and not options.text:
        raise TextclsError("--text_pair is the second text of a --text; for an --input file give --text_pair_column")
    if options.text_pair_column and options.text:
        raise TextclsError("--text_pair_column names a column of an --input file; with --text give --text_pair")
    if options.resume and options.text:
        raise TextclsError("--resume continues an --input file's run; it has no meaning with --text")
    # The output is opened (and the input read up to its first chunk) before the model loads: a wrong path fails
    # in a second, not after the inference.
    identity = {
        "input": _identity_path(options.input),
        "text_column": options.text_column,
        "text_pair_column": options.text_pair_column,
        "model_dir": str(Path(options.model_dir).resolve()),
    }
    writer = PredictionWriter(options.output, options.input, options.resume, identity)
    try:
        summary = classify(options, writer)
    except BaseException:
        writer.abandon()
        raise
    writer.finish()
    return summary


def classify(options: argparse.Namespace, writer: PredictionWriter) -> dict:
    if options.text:
        chunks = iter([Chunk(pairs_frame(options.text, options.text_pair), 0)])
    else:
        chunks = read_chunks(options.input, options.text_column, options.chunk_size)
        if options.text_pair_column:
            chunks = with_pair_column(chunks, options.text_pair_column, options.input)
    first = next(chunks)
    pairs = bool(options.text_pair or options.text_pair_column)
    classifier = TextClassifier.from_options(options, batch_size=options.batch_size)
    classifier.check_pairs([] if pairs else None)  # one clear message before any text is read by the model

    skip = writer.rows_done
    if skip:
        logger.info("--resume: %s holds %d complete rows; continuing after them", options.output, skip)
    total = None if options.text else estimate_rows(options.input)
    empty_rows: list[int] = []
    classified = 0
    started = time.perf_counter()
    bar = tqdm(
        total=total,
        initial=skip,
        desc="Classifying",
        unit=" texts",
        unit_scale=True,
        disable=options.text is not None,
        file=sys.stderr,
    )
    with bar:
        for chunk in itertools.chain([first], chunks):
            frame = chunk.frame
            if chunk.first_row + len(frame) <= skip:
                continue
            if chunk.first_row < skip:  # the chunk that straddles the resume point
                frame = frame.iloc[skip - chunk.first_row :].reset_index(drop=True)
                chunk = Chunk(frame, skip)
            empty = chunk.empty_rows() | (empty_pair_rows(frame) if pairs else False)
            empty_rows.extend((chunk.first_row + index + 1) for index in empty.nonzero()[0])
            second = frame[PAIR][~empty].tolist() if pairs else None
            outputs = classifier.predict(frame["text"][~empty].tolist(), second)
            writer.write(with_predictions(frame, prediction_columns(outputs, ~empty)))
            classified += len(frame)
            bar.update(len(frame))
    seconds = time.perf_counter() - started
    if empty_rows:
        shown = ", ".join(map(str, empty_rows[:SHOWN_ROWS])) + (", ..." if len(empty_rows) > SHOWN_ROWS else "")
        logger.warning(
            "%d rows have no text%s (data rows %s): they are kept with empty prediction columns",
            len(empty_rows),
            " or no second text" if pairs else "",
            shown,
        )
    logger.info(
        "classified %d texts in %.1f s (%.1f texts/s, backend %s)%s",
        classified,
        seconds,
        classified / max(seconds, 1e-9),
        classifier.backend.name,
        f"; wrote {options.output}" if options.output else "",
    )
    return {"rows": skip + classified, "empty_rows": empty_rows, "seconds": seconds, "backend": classifier.backend.name}


def _identity_path(path: str | None) -> str | None:
    return path if path in (None, "-") else str(Path(path).resolve())


if __name__ == "__main__":
    sys.exit(run_cli(main))
