"""Export a model folder written by run_classification.py to ONNX, and check the export on real text.

    python export_onnx.py --model_dir outputs/glove_20ng
    python export_onnx.py --model_dir outputs/demo --check_texts texts.txt --output model.onnx
    python export_onnx.py --model_dir outputs/minilm_agnews --optimize --quantize int8 --check_texts texts.csv

Writes MODEL_DIR/model.onnx (inputs input_ids, attention_mask[, token_type_ids], output logits; batch
and sequence length dynamic), then runs the same texts through onnxruntime and PyTorch, cleaned and cut as the
model's training recorded (max_seq_length and side, head+tail included): the export fails (and the file is
deleted) when any logit differs by more than 1e-4; the report gives that difference, how many texts get another
decision (as `modeling.problem_types` decides: another class, or another label set with the thresholds of
config.json for multi-label; none for regression, whose value difference is the logit difference), and both
throughputs. A pair model (text_pair in config.json) is exported and checked on pairs, so that its graph takes
token_type_ids where the model has them: give a --check_texts table with --text_pair_column. The graph itself
takes token ids: whoever feeds it must clean and cut texts alike (see predict.py). The graph records a fingerprint
of the weights it was exported from, so predict.py uses it only while they are the folder's.

--optimize fuses the graph for BERT-like backbones (onnxruntime's transformer optimizer: embeddings + layer norm,
attention, skip + layer norm and bias + GELU each become one operator; the report lists the counts).
--quantize int8 also writes model.int8.onnx (dynamic quantization, per-channel 7-bit weights), checked the same
way, and deleted when fewer than --min_label_agreement of the check texts keep their label (unless
--keep_below_agreement): give --check_texts a few hundred texts of your own data for a meaningful agreement.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import modeling  # noqa: F401  registers the GloVe and RNN models with the Auto classes
from inference.backends import check_weight_files, weights_fingerprint
from inference.classifier import TextClassifier
from inference.files import Chunk, read_inputs
from inference.onnx_export import PARITY_TOLERANCE, compare_with_torch, export_onnx
from inference.onnx_variants import int8_path, optimize_graph, quantize_int8, stamp_weights
from inference.text_pairs import PAIR, empty_pair_rows, with_pair_column
from modeling import problem_types
from textcls_errors import TextclsError, run_cli

logger = logging.getLogger("export_onnx")
# The exporter's libraries report every graph pass at INFO (dozens of lines, some of several KB): warnings only.
for library in ("onnxscript", "onnx_ir"):
    logging.getLogger(library).setLevel(logging.WARNING)

CHECK_TEXTS = [
    "The shuttle reached orbit after a two-day delay, NASA said on Tuesday.",
    "My hard drive will not boot since I installed the new SCSI controller card.",
    "The Leafs lost again in overtime; the goalie let in three goals in the third period.",
    "Is there any evidence for the existence of god outside scripture?",
    "ok",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", required=True, help="A folder written by run_classification.py.")
    parser.add_argument("--output", help="Where to write the .onnx file (default: MODEL_DIR/model.onnx).")
    parser.add_argument("--check_texts", help="Texts for the parity check and timing (a file, as predict.py reads).")
    parser.add_argument("--text_column", help="The column holding the texts in a --check_texts table.")
    parser.add_argument(
        "--text_pair_column", help="Pair models: the column holding the second texts in a --check_texts table."
    )
    parser.add_argument(
        "--optimize", action="store_true", help="Apply onnxruntime's transformer fusions (BERT-like backbones)."
    )
    parser.add_argument(
        "--quantize", choices=["int8"], help="Also write a dynamically quantized copy (MODEL_DIR/model.int8.onnx)."
    )
    parser.add_argument(
        "--min_label_agreement",
        type=float,
        default=0.99,
        help="Share of the check texts whose label the int8 model must keep (default: 0.99).",
    )
    parser.add_argument(
        "--keep_below_agreement",
        action="store_true",
        help="Keep an int8 model even when its label agreement is below --min_label_agreement.",
    )
    return parser


def main(argv: list[str] | None = None) -> dict:
    options = build_parser().parse_args(argv)
    if not 0 <= options.min_label_agreement <= 1:
        raise TextclsError(f"--min_label_agreement must be between 0 and 1, got {options.min_label_agreement}")
    model_dir = Path(options.model_dir)
    if not (model_dir / "config.json").is_file():
        raise TextclsError(f"{model_dir} holds no config.json: give a folder written by run_classification.py")
    check_weight_files(model_dir)
    # The model and how it reads text (the recorded cleaning and cut), as predict.py has them: the parity check
    # feeds both runtimes the inputs the model will see in use.
    classifier = TextClassifier(model_dir, device="cpu", backend="torch")
    model, tokenizer, encode = classifier.model, classifier.tokenizer, classifier.padded_batch
    texts, pairs = check_texts(options, problem_types.reads_text_pairs(model.config))

    path = export_onnx(
        model,
        tokenizer,
        options.output or model_dir / "model.onnx",
        texts[:2],
        None if pairs is None else pairs[:2],
        encode=encode,
    )
    fused = optimize_graph(path, model.config) if options.optimize else None
    stamp_weights(path, weights_fingerprint(model_dir))
    report = compare_with_torch(model, tokenizer, path, texts, text_pairs=pairs, encode=encode)
    report["file"] = str(path)
    if options.optimize:
        report["fused_operators"] = fused
    if report["max_abs_logit_difference"] > PARITY_TOLERANCE:
        path.unlink()  # a graph that computes something else must not be picked up by mistake
        raise TextclsError(
            f"the ONNX graph in {path} gives logits up to {report['max_abs_logit_difference']:.2e} away from PyTorch's "
            f"(tolerance {PARITY_TOLERANCE}), so it was deleted"
        )
    if options.quantize:
        report["int8"] = check_int8(model, tokenizer, path, texts, options, pairs, encode)
    logger.info("%s", json.dumps(report, indent=2))
    return report


def check_texts(options: argparse.Namespace, reads_pairs: bool) -> tuple[list[str], list[str] | None]:
    """The parity check's texts, and their second texts for a pair model (the built-in texts pair each with the
    next one)."""
    if options.text_pair_column and not reads_pairs:
        raise TextclsError(f"{options.model_dir} reads one text per example: drop --text_pair_column")
    if not options.check_texts:
        return CHECK_TEXTS, (CHECK_TEXTS[1:] + CHECK_TEXTS[:1]) if reads_pairs else None
    frame = read_inputs(options.check_texts, options.text_column)
    if not reads_pairs:
        return frame["text"].tolist(), None
    if not options.text_pair_column:
        raise TextclsError(
            f"{options.model_dir} reads text pairs: give the --check_texts table's second-text column with "
            "--text_pair_column"
        )
    frame = next(with_pair_column(iter([Chunk(frame, 0)]), options.text_pair_column, options.check_texts)).frame
    empty = empty_pair_rows(frame)
    if empty.any():
        rows = ", ".join(str(index + 1) for index in empty.nonzero()[0][:5])
        raise TextclsError(f"{options.check_texts}: column {options.text_pair_column!r} is empty in data rows {rows}")
    return frame["text"].tolist(), frame[PAIR].tolist()


def check_int8(
    model,
    tokenizer,
    fp32_path: Path,
    texts: list[str],
    options: argparse.Namespace,
    pairs: list[str] | None = None,
    encode=None,
) -> dict:
    """Quantize, compare with PyTorch, and delete the int8 file when too many labels change (unless kept).
    A regression model has no labels to keep: its report gives the largest value difference instead."""
    path = quantize_int8(fp32_path, int8_path(fp32_path))
    report = compare_with_torch(model, tokenizer, path, texts, text_pairs=pairs, encode=encode)
    report["file"] = str(path)
    if report["labels_changed"] is None:
        logger.info("int8: a regression model predicts values; their largest change is max_abs_logit_difference")
        return report
    report["label_agreement"] = 1 - report["labels_changed"] / report["texts"]
    if report["label_agreement"] < options.min_label_agreement:
        message = (
            f"the int8 model {path} changes the label of {report['labels_changed']} of {report['texts']} check texts "
            f"(agreement {report['label_agreement']:.2%} < --min_label_agreement {options.min_label_agreement:.2%})"
        )
        if not options.keep_below_agreement:
            path.unlink()
            raise TextclsError(f"{message}, so it was deleted; use the fp32 model, or --keep_below_agreement")
        logger.warning("%s; kept as --keep_below_agreement asks", message)
    return report


if __name__ == "__main__":
    sys.exit(run_cli(main))
