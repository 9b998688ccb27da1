"""What export_onnx.py does to a checked ONNX graph: stamp it with its weights, fuse it, quantize it.

- `stamp_weights` records a fingerprint of the folder's weights in the graph's metadata, so that prediction uses
  a graph only while it matches the weights (inference.backends).
- `optimize_graph` applies onnxruntime's transformer optimizer (EmbedLayerNormalization, Attention,
  SkipLayerNormalization and BiasGelu fusions) to BERT-like backbones, whose graphs `onnx_export` traces in the
  shape those fusions recognise.
- `quantize_int8` writes a dynamically quantized copy (int8 weights per output channel, activations quantized per
  batch at run time).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import onnx

from inference.backends import WEIGHTS_KEY
from modeling.classifier_heads import backbone_config

logger = logging.getLogger(__name__)

# Backbones whose encoder onnxruntime's "bert" optimizer knows (RoBERTa, DistilBERT and MiniLM are BERT-shaped).
OPTIMIZABLE = {"bert", "roberta", "xlm-roberta", "distilbert", "electra"}


def bert_like(config) -> bool:
    """Whether the model's backbone is one whose encoder onnxruntime's "bert" optimizer knows."""
    return backbone_config(config).model_type in OPTIMIZABLE


def stamp_weights(path: str | Path, fingerprint: str) -> None:
    """Record `fingerprint` (of the weights the graph computes with) in the graph's metadata."""
    model = onnx.load(str(path))
    _set_metadata(model, fingerprint)
    onnx.save(model, str(path))


def _set_metadata(model: onnx.ModelProto, fingerprint: str) -> None:
    kept = [entry for entry in model.metadata_props if entry.key != WEIGHTS_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    model.metadata_props.add(key=WEIGHTS_KEY, value=fingerprint)


def optimize_graph(path: str | Path, config) -> dict[str, int] | None:
    """Fuse the graph in place for a BERT-like backbone; returns the fused operators' counts (None: not BERT-like)."""
    from onnxruntime.transformers.optimizer import optimize_model

    backbone = backbone_config(config)
    if not bert_like(config):
        logger.warning(
            "--optimize: onnxruntime's transformer fusions are for BERT-like backbones, not %s; the graph is kept "
            "as exported (onnxruntime still applies its general optimizations when a session starts)",
            backbone.model_type,
        )
        return None
    heads = getattr(backbone, "num_attention_heads", None) or getattr(backbone, "n_heads", 0)
    hidden = getattr(backbone, "hidden_size", None) or getattr(backbone, "dim", 0)
    optimized = optimize_model(str(path), model_type="bert", num_heads=heads, hidden_size=hidden)
    fused = {name: count for name, count in optimized.get_fused_operator_statistics().items() if count}
    optimized.save_model_to_file(str(path))
    logger.info("--optimize: fused operators %s", fused)
    return fused


def quantize_int8(source: str | Path, target: str | Path) -> Path:
    """A dynamically quantized copy of `source` at `target` (int8 weights; the metadata travels with it)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # a fused graph's com.microsoft operators (Attention, SkipLayerNormalization) defeat onnx's shape inference:
    # their outputs are float tensors, which the quantizer must be told
    extra = {"DefaultTensorType": onnx.TensorProto.FLOAT}
    with root_records_demoted():  # the quantizer logs lines per tensor on the root logger
        # per-channel scales and 7-bit weights (reduce_range: no int16 overflow in the u8 x s8 products of CPUs
        # without VNNI): on the AG News MiniLM (benchmarks/README.md) they kept 99.0 % of 300 validation labels,
        # against 96.3 % for per-tensor 8-bit weights, 94.7 % per-tensor 7-bit and 98.3 % per-channel 8-bit
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=True,
            extra_options=extra,
        )
    fingerprint = {entry.key: entry.value for entry in onnx.load(str(source)).metadata_props}.get(WEIGHTS_KEY)
    if fingerprint is not None:
        stamp_weights(target, fingerprint)
    return Path(target)


@contextlib.contextmanager
def root_records_demoted() -> Iterator[None]:
    """While it lasts, records logged on the root logger itself go to this module's logger at DEBUG, errors excepted.

    onnxruntime.quantization logs through `logging.info` / `logging.warning` (the root logger): a line per tensor
    and advice meant for its own users ("consider pre-processing"), which would fill the user's terminal; the int8
    parity check is what says whether the copy is good. A filter on the root logger sees only the records logged on
    it directly, so named loggers, the root logger's level and its handlers are left alone.
    """

    def demote(record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        logger.debug("onnxruntime (%s): %s", record.levelname.lower(), record.getMessage())
        return False

    root = logging.getLogger()
    root.addFilter(demote)
    try:
        yield
    finally:
        root.removeFilter(demote)


def int8_path(fp32_path: str | Path) -> Path:
    """model.onnx -> model.int8.onnx (beside it), the file --backend onnx-int8 reads."""
    path = Path(fp32_path)
    return path.with_name(f"{path.stem}.int8{path.suffix}")
