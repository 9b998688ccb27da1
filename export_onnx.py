"""Export a model folder written by run_classification.py to ONNX, and check the export on real text.

    python export_onnx.py --model_dir outputs/glove_20ng
    python export_onnx.py --model_dir outputs/demo --check_texts texts.txt --output model.onnx
    python export_onnx.py --model_dir outputs/minilm_agnews --optimize --quantize int8 --check_texts texts.csv

Writes MODEL_DIR/model.onnx (inputs input_ids, attention_mask[, token_type_ids], output logits; batch
and sequence length dynamic), then runs the same texts through onnxruntime and PyTorch: the export fails
(and the file is deleted) when any logit differs by more than 1e-4; the report gives that difference, how many
predicted labels changed, and both throughputs. Texts go in as the tokenizer makes them: apply the model's text
cleaning first when it has one (see predict.py). The graph records a fingerprint of the weights it was exported
from, so predict.py uses it only while they are the folder's.

--optimize fuses the graph for BERT-like backbones (onnxruntime's transformer optimizer). --quantize int8 also
writes model.int8.onnx (dynamic quantization), checked the same way, and deleted when fewer than
--min_label_agreement of the check texts keep their label (unless --keep_below_agreement): give --check_texts a
few hundred texts of your own data for a meaningful agreement.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from transformers import AutoTokenizer

import modeling  # noqa: F401  registers the GloVe and RNN models with the Auto classes
from inference.backends import check_weight_files, weights_fingerprint
from inference.files import read_inputs
from inference.onnx_export import PARITY_TOLERANCE, compare_with_torch, export_onnx
from inference.onnx_variants import int8_path, optimize_graph, quantize_int8, stamp_weights
from modeling.lora import load_for_inference
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
    model = load_for_inference(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    texts = CHECK_TEXTS
    if options.check_texts:
        texts = read_inputs(options.check_texts, options.text_column)["text"].tolist()

    path = export_onnx(model, tokenizer, options.output or model_dir / "model.onnx", texts[:2])
    fused = optimize_graph(path, model.config) if options.optimize else None
    stamp_weights(path, weights_fingerprint(model_dir))
    report = compare_with_torch(model, tokenizer, path, texts)
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
        report["int8"] = check_int8(model, tokenizer, path, texts, options)
    logger.info("%s", json.dumps(report, indent=2))
    return report


def check_int8(model, tokenizer, fp32_path: Path, texts: list[str], options: argparse.Namespace) -> dict:
    """Quantize, compare with PyTorch, and delete the int8 file when too many labels change (unless kept)."""
    path = quantize_int8(fp32_path, int8_path(fp32_path))
    report = compare_with_torch(model, tokenizer, path, texts)
    report["file"] = str(path)
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
