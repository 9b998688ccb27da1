"""Export a saved classifier to ONNX (batch and sequence length dynamic) and check it against PyTorch.

Two exporters, each where it gives the better graph:
- BERT-like transformers: torch's TorchScript exporter, attention computed "eager" (MatMul, Softmax, MatMul) while
  tracing. That is the graph shape onnxruntime's BERT fusions recognise: EmbedLayerNormalization, Attention,
  SkipLayerNormalization and BiasGelu all apply (`onnx_variants.optimize_graph`). The dynamo exporter's graph of
  the same model (scaled_dot_product_attention decomposed) gets no Attention fusion from onnxruntime 1.32, so
  --optimize gained little; it also takes several times longer to export.
- GloVe and RNN models: the dynamo exporter (torch.export + onnxscript). The RNN models read the padded batch,
  each text up to its own length (see `LstmModel._run_padded`), which becomes ONNX LSTM/GRU operators (an Elman
  RNN as the equivalent GRU). The TorchScript exporter drops the lengths, so its RNN graphs give other logits
  (max |difference| 1.08 on a 2-text batch).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import numpy as np
import onnx
import torch

from inference.onnx_variants import bert_like
from modeling import problem_types
from textcls_errors import TextclsError

logger = logging.getLogger(__name__)

# (texts, second texts or None) -> one padded batch of model inputs
Encoder = Callable[[Sequence[str], Sequence[str] | None], dict[str, torch.Tensor]]

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
DYNAMIC_AXES = ("batch", "sequence")
PARITY_TOLERANCE = 1e-4
# TorchScript export: opset 17 has LayerNormalization as one operator, the form the fusions start from
TORCHSCRIPT_OPSET = 17
# torch.onnx swaps in while-loop kernels for these so that their sequence length stays dynamic, but a kernel
# cached by an earlier export in the same process wins over the swap (torch 2.13), fixing the length
RECURRENT_OPS = (torch.ops.aten.lstm.input, torch.ops.aten.gru.input)
# Sequence positions of the sample batch the dynamo exporter traces (at least 2, or torch.export fixes the axis).
DYNAMO_SAMPLE_POSITIONS = 4


class LogitsOnly(torch.nn.Module):
    """The classifier as ONNX sees it: tensors in, logits out (no output dataclass)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        return self.model(input_ids=input_ids, attention_mask=attention_mask, **extra).logits


def encode_batch(tokenizer, texts: Sequence[str], text_pairs: Sequence[str] | None = None) -> dict:
    """A padded batch of texts, or of pairs (tokenizer(text, text_pair): the second text marked by token_type_ids
    where the model has them, so that the graph takes that input too), as the bare tokenizer makes it (for folders
    read without a recorded cut)."""
    pairs = None if text_pairs is None else list(text_pairs)
    return tokenizer(list(texts), pairs, padding=True, truncation=True, return_tensors="pt")


def export_onnx(
    model,
    tokenizer,
    path: str | Path,
    sample_texts: Sequence[str],
    sample_pairs: Sequence[str] | None = None,
    encode: Encoder | None = None,
) -> Path:
    """Write `path` with dynamic batch and sequence axes; returns it. `encode` turns texts (and pairs) into the
    model's inputs (default: the tokenizer alone). The exporter depends on the model (see the module's docstring)."""
    model = model.eval()
    encoded = (encode or partial(encode_batch, tokenizer))(list(sample_texts), sample_pairs)
    names = [name for name in INPUTS if name in encoded]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    inputs = tuple(encoded[name] for name in names)
    if bert_like(model.config):
        _export_traced(model, inputs, names, path)
    else:
        _export_dynamo(model, inputs, names, path)
    # an exporter may fix a size rather than fail when tracing pins an axis: refuse such a graph
    fixed = [
        f"{value.name} axis {axis}"
        for value in onnx.load(str(path), load_external_data=False).graph.input
        for axis in (0, 1)
        if not value.type.tensor_type.shape.dim[axis].dim_param
    ]
    if fixed:
        path.unlink()
        raise TextclsError(
            f"the ONNX export fixed the size of {', '.join(fixed)} instead of keeping it dynamic (torch pinned it "
            f"while tracing the model), so {path} was deleted"
        )
    return path


def _export_dynamo(model, inputs: tuple[torch.Tensor, ...], names: list[str], path: Path) -> None:
    batch, sequence = (torch.export.Dim(axis) for axis in DYNAMIC_AXES)
    for op in RECURRENT_OPS:
        getattr(op, "_dispatch_cache", {}).clear()
    # Tracing steps an RNN's decomposition through every position of the sample: its first few positions make the
    # same graph (both axes stay dynamic; the parity check runs longer texts) in a fraction of the time.
    inputs = tuple(values[:, :DYNAMO_SAMPLE_POSITIONS] for values in inputs)
    _export_logits(
        model,
        inputs,
        names,
        path,
        dynamic_shapes=tuple({0: batch, 1: sequence} for _ in names),  # one per positional input
        dynamo=True,
        external_data=False,  # one file, as users expect to copy it
    )


def _export_traced(model, inputs: tuple[torch.Tensor, ...], names: list[str], path: Path) -> None:
    axes = {name: dict(enumerate(DYNAMIC_AXES)) for name in names} | {"logits": {0: DYNAMIC_AXES[0]}}
    with eager_attention(model), warnings.catch_warnings():
        # the tracer warns about every Python condition on a shape it records as a constant; the parity check on
        # texts of other lengths and batch sizes (export_onnx.py) is what shows the graph is right
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export", category=DeprecationWarning)
        _export_logits(model, inputs, names, path, dynamic_axes=axes, opset_version=TORCHSCRIPT_OPSET, dynamo=False)


def _export_logits(model, inputs: tuple[torch.Tensor, ...], names: list[str], path: Path, **exporter) -> None:
    """torch.onnx.export of the model's logits from the named inputs, with the exporter's own options."""
    torch.onnx.export(
        LogitsOnly(model).eval(), inputs, str(path), input_names=names, output_names=["logits"], **exporter
    )


@contextmanager
def eager_attention(model) -> Iterator[None]:
    """Compute attention as explicit MatMul/Softmax/MatMul while inside (the pattern onnxruntime fuses back into
    one Attention operator), then restore the model's own implementation (sdpa by default)."""
    before = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        yield
    finally:
        model.set_attn_implementation(before)


def decisions_changed(config, onnx_logits: np.ndarray, torch_logits: np.ndarray) -> int | None:
    """How many texts get another decision from the two logits, as `problem_types.predict` decides: another class,
    or another label set (the thresholds of config.json applied); None for regression (a value, not a label: its
    difference is the logit difference)."""
    if problem_types.problem_type_of(config) == problem_types.REGRESSION:
        return None
    ours, theirs = problem_types.predict(config, onnx_logits), problem_types.predict(config, torch_logits)
    differs = ours != theirs
    return int(differs.reshape(len(differs), -1).any(axis=1).sum())


def compare_with_torch(
    model,
    tokenizer,
    path: str | Path,
    texts: Sequence[str],
    batch_size: int = 32,
    text_pairs: Sequence[str] | None = None,
    encode: Encoder | None = None,
) -> dict:
    """Max |logit difference| and the number of texts whose decision differs (`decisions_changed`) between
    onnxruntime and PyTorch on `texts` (and their `text_pairs`) encoded by `encode` (as the model reads text;
    default: the tokenizer alone), the longest input in tokens, and both throughputs (texts/s)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    wanted = [item.name for item in session.get_inputs()]
    model = model.eval()
    batches = [list(texts[start : start + batch_size]) for start in range(0, len(texts), batch_size)]
    pair_batches = [None] * len(batches)
    if text_pairs is not None:
        pair_batches = [list(text_pairs[start : start + batch_size]) for start in range(0, len(texts), batch_size)]
    encoder = encode or partial(encode_batch, tokenizer)
    encoded = [encoder(batch, pairs) for batch, pairs in zip(batches, pair_batches, strict=True)]

    # one untimed batch each first: allocations and thread pools are set up on first use
    session.run(None, {name: encoded[0][name].numpy() for name in wanted})
    with torch.no_grad():
        model(**{name: encoded[0][name] for name in wanted})
    started = time.perf_counter()
    onnx_logits = [session.run(None, {name: batch[name].numpy() for name in wanted})[0] for batch in encoded]
    onnx_seconds = time.perf_counter() - started
    started = time.perf_counter()
    with torch.no_grad():
        # PyTorch reads every input the tokenizer makes: an input the graph lost (token_type_ids, say) shows here
        torch_logits = [
            model(**{name: batch[name] for name in INPUTS if name in batch}).logits.numpy() for batch in encoded
        ]
    torch_seconds = time.perf_counter() - started
    difference = max(float(np.abs(a - b).max()) for a, b in zip(onnx_logits, torch_logits, strict=True))
    changed = decisions_changed(model.config, np.concatenate(onnx_logits), np.concatenate(torch_logits))
    return {
        "texts": len(texts),
        "max_tokens": max(batch["input_ids"].shape[1] for batch in encoded),
        "max_abs_logit_difference": difference,
        "labels_changed": changed,
        "onnxruntime_texts_per_second": len(texts) / onnx_seconds,
        "torch_texts_per_second": len(texts) / torch_seconds,
    }
