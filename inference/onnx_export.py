"""Export a saved classifier to ONNX (batch and sequence length dynamic) and check it against PyTorch.

torch's dynamo exporter (torch.export + onnxscript) handles the transformer backbones and the GloVe
mean-pool model. The RNN models are refused: they pack each batch by text length, a data-dependent step
that torch.export cannot trace, and the older TorchScript exporter drops the lengths, so its graph gives
other logits (measured here: max |difference| 1.08 on a 2-text batch).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from textcls_errors import TextclsError

logger = logging.getLogger(__name__)

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
UNSUPPORTED = {"textcls-lstm": "the RNN models (packed sequences cannot be traced by torch.export)"}
PARITY_TOLERANCE = 1e-4


class LogitsOnly(torch.nn.Module):
    """The classifier as ONNX sees it: tensors in, logits out (no output dataclass)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        return self.model(input_ids=input_ids, attention_mask=attention_mask, **extra).logits


def export_onnx(model, tokenizer, path: str | Path, sample_texts: Sequence[str]) -> Path:
    """Write `path` with dynamic batch and sequence axes; returns it."""
    model_type = model.config.model_type
    if model_type in UNSUPPORTED:
        raise TextclsError(
            f"ONNX export does not support {UNSUPPORTED[model_type]} yet; GloVe and transformer models export."
        )
    model = model.eval()
    encoded = tokenizer(list(sample_texts), padding=True, truncation=True, return_tensors="pt")
    names = [name for name in INPUTS if name in encoded]
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        LogitsOnly(model),
        tuple(encoded[name] for name in names),
        str(path),
        input_names=names,
        output_names=["logits"],
        dynamic_shapes=tuple({0: batch, 1: sequence} for _ in names),  # one per positional input
        dynamo=True,
        external_data=False,  # one file, as users expect to copy it
    )
    return path


def compare_with_torch(model, tokenizer, path: str | Path, texts: Sequence[str], batch_size: int = 32) -> dict:
    """Max |logit difference| between onnxruntime and PyTorch on `texts`, and both throughputs (texts/s)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    wanted = [item.name for item in session.get_inputs()]
    model = model.eval()
    batches = [list(texts[start : start + batch_size]) for start in range(0, len(texts), batch_size)]
    encoded = [tokenizer(batch, padding=True, truncation=True, return_tensors="pt") for batch in batches]

    # one untimed batch each first: allocations and thread pools are set up on first use
    session.run(None, {name: encoded[0][name].numpy() for name in wanted})
    with torch.no_grad():
        model(**{name: encoded[0][name] for name in wanted})
    started = time.perf_counter()
    onnx_logits = [session.run(None, {name: batch[name].numpy() for name in wanted})[0] for batch in encoded]
    onnx_seconds = time.perf_counter() - started
    started = time.perf_counter()
    with torch.no_grad():
        torch_logits = [model(**{name: batch[name] for name in wanted}).logits.numpy() for batch in encoded]
    torch_seconds = time.perf_counter() - started
    difference = max(float(np.abs(a - b).max()) for a, b in zip(onnx_logits, torch_logits, strict=True))
    return {
        "texts": len(texts),
        "max_abs_logit_difference": difference,
        "onnxruntime_texts_per_second": len(texts) / onnx_seconds,
        "torch_texts_per_second": len(texts) / torch_seconds,
    }
