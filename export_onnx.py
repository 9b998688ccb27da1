"""Export a model folder written by run_classification.py to ONNX, and check the export on real text.

    python export_onnx.py --model_dir outputs/glove_20ng
    python export_onnx.py --model_dir outputs/demo --check_texts texts.txt --output model.onnx

Writes MODEL_DIR/model.onnx (inputs input_ids, attention_mask[, token_type_ids], output logits; batch
and sequence length dynamic), then runs the same texts through onnxruntime and PyTorch, cleaned and cut as the
model's training recorded (max_seq_length and side, head+tail included): the export fails (and the file is
deleted) when any logit differs by more than 1e-4; both throughputs are printed. The graph itself takes token
ids: whoever feeds it must clean and cut texts alike (see predict.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import modeling  # noqa: F401  registers the GloVe and RNN models with the Auto classes
from inference.classifier import TextClassifier
from inference.files import read_inputs
from inference.onnx_export import PARITY_TOLERANCE, compare_with_torch, export_onnx
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


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", required=True, help="A folder written by run_classification.py.")
    parser.add_argument("--output", help="Where to write the .onnx file (default: MODEL_DIR/model.onnx).")
    parser.add_argument("--check_texts", help="Texts for the parity check and timing (a file, as predict.py reads).")
    parser.add_argument("--text_column", help="The column holding the texts in a --check_texts table.")
    options = parser.parse_args(argv)
    model_dir = Path(options.model_dir)
    if not (model_dir / "config.json").is_file():
        raise TextclsError(f"{model_dir} holds no config.json: give a folder written by run_classification.py")
    # The model and how it reads text (the recorded cleaning and cut), as predict.py has them: the parity check
    # feeds both runtimes the inputs the model will see in use.
    classifier = TextClassifier(model_dir, device="cpu")
    model, tokenizer = classifier.model, classifier.tokenizer
    texts = CHECK_TEXTS
    if options.check_texts:
        texts = read_inputs(options.check_texts, options.text_column)["text"].tolist()

    path = export_onnx(model, tokenizer, options.output or model_dir / "model.onnx", texts[:2], classifier.encode)
    report = compare_with_torch(model, tokenizer, path, texts, encode=classifier.encode)
    report["file"] = str(path)
    logger.info("%s", json.dumps(report, indent=2))
    if report["max_abs_logit_difference"] > PARITY_TOLERANCE:
        path.unlink()  # a graph that computes something else must not be picked up by mistake
        raise TextclsError(
            f"the ONNX graph in {path} gives logits up to {report['max_abs_logit_difference']:.2e} away from PyTorch's "
            f"(tolerance {PARITY_TOLERANCE}), so it was deleted"
        )
    return report


if __name__ == "__main__":
    sys.exit(run_cli(main))
