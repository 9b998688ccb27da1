"""Where the logits come from: PyTorch, or an ONNX graph that export_onnx.py wrote (fp32, or int8-quantized).

Every backend takes a padded batch (numpy arrays by input name) and returns logits as float32 numpy, so that the
rest of prediction (`inference.outputs`) is the same whichever ran. An ONNX file records a fingerprint of the
weights it was exported from (`WEIGHTS_KEY` in its metadata); it is used only while those weights are the folder's.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from textcls_errors import TextclsError

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnx", "onnx-int8")
ONNX_FILES = {"onnx": "model.onnx", "onnx-int8": "model.int8.onnx"}
WEIGHTS_KEY = "textcls_weights_sha256"
# The files that hold a folder's weights (a plain model, a sharded one, or a LoRA adapter).
WEIGHT_PATTERNS = ("model*.safetensors", "adapter_model.safetensors", "pytorch_model*.bin", "adapter_model.bin")


def default_threads() -> int:
    """Intra-op threads: one per physical core (hyper-threads share a core's arithmetic units and slow both)."""
    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


def weight_files(model_dir: str | Path) -> list[Path]:
    folder = Path(model_dir)
    return sorted({path for pattern in WEIGHT_PATTERNS for path in folder.glob(pattern) if path.is_file()})


def weights_fingerprint(model_dir: str | Path) -> str:
    """sha256 over the names and bytes of the folder's weight files."""
    digest = hashlib.sha256()
    for path in weight_files(model_dir):
        digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as file:
            while block := file.read(1 << 22):
                digest.update(block)
    return digest.hexdigest()


def check_weight_files(model_dir: str | Path) -> None:
    """A clear message, instead of a library traceback, for a damaged (e.g. truncated) safetensors file."""
    from safetensors import safe_open

    for path in weight_files(model_dir):
        if path.suffix != ".safetensors":
            continue
        try:
            with safe_open(str(path), framework="np") as weights:
                names = list(weights.keys())
                if names:  # the header may be whole while the tensors after it were cut off
                    weights.get_slice(names[-1])
        except Exception as error:  # safetensors raises its own error type, OSError, or ValueError
            raise TextclsError(
                f"{path} is damaged (truncated or not a safetensors file: {error}); copy the folder again or retrain"
            ) from None
        expected = _safetensors_size(path)
        if expected is not None and path.stat().st_size < expected:
            raise TextclsError(
                f"{path} is truncated ({path.stat().st_size} bytes of {expected}); copy the folder again or retrain"
            )


def _safetensors_size(path: Path) -> int | None:
    """The size the header promises: 8 + header length + the end of the last tensor's data."""
    import json
    import struct

    with open(path, "rb") as file:
        (header_length,) = struct.unpack("<Q", file.read(8))
        header = json.loads(file.read(header_length))
    ends = [entry["data_offsets"][1] for name, entry in header.items() if name != "__metadata__"]
    return 8 + header_length + max(ends, default=0)


class TorchBackend:
    """The PyTorch model, eager."""

    name = "torch"

    def __init__(self, model: torch.nn.Module, device: torch.device, num_threads: int | None = None):
        self.model = model
        self.device = device
        self.num_threads = (num_threads or default_threads()) if device.type == "cpu" else None

    @torch.no_grad()
    def __call__(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        inputs = {name: torch.from_numpy(array).to(self.device) for name, array in batch.items()}
        with self._own_threads():
            return self.model(**inputs).logits.float().cpu().numpy()

    @contextmanager
    def _own_threads(self) -> Iterator[None]:
        """torch's intra-op thread count belongs to the calling thread (the host script's main thread, typically):
        set it for this call only, so that the host keeps its own setting (a toggle costs microseconds)."""
        if self.num_threads is None:
            yield
            return
        host_threads = torch.get_num_threads()
        torch.set_num_threads(self.num_threads)
        try:
            yield
        finally:
            torch.set_num_threads(host_threads)


class OnnxBackend:
    """An ONNX graph in onnxruntime on the CPU (its full graph optimizations applied when the session starts)."""

    def __init__(self, name: str, path: Path, num_threads: int | None = None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = num_threads or default_threads()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types for unreadable graphs
            raise TextclsError(f"onnxruntime cannot load {path}: {error}") from None
        self.name = name
        self.path = path
        self.input_names = [item.name for item in self.session.get_inputs()]
        self.weights = self.session.get_modelmeta().custom_metadata_map.get(WEIGHTS_KEY)

    def __call__(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        feeds = {name: batch[name].astype(np.int64, copy=False) for name in self.input_names}
        return self.session.run(None, feeds)[0].astype(np.float32, copy=False)


def open_backend(
    model_dir: Path,
    requested: str,
    device: torch.device,
    load_torch_model: Callable[[], torch.nn.Module],
    num_threads: int | None = None,
):
    """The backend `requested` (one of BACKENDS); 'auto' is onnx when MODEL_DIR/model.onnx was exported from
    these weights and the device is a CPU, else torch."""
    if requested not in BACKENDS:
        raise TextclsError(f"backend={requested!r}: expected one of {', '.join(BACKENDS)}")
    onnx_usable = device.type == "cpu" and (model_dir / ONNX_FILES["onnx"]).is_file()
    if requested == "torch" or (requested == "auto" and not onnx_usable):
        return TorchBackend(load_torch_model(), device, num_threads)
    if device.type != "cpu":
        raise TextclsError(f"--backend {requested} runs on the CPU only; use --backend torch for device {device}")
    name = "onnx" if requested == "auto" else requested
    path = model_dir / ONNX_FILES[name]
    if not path.is_file():
        how = "export_onnx.py --model_dir DIR" + (" --quantize int8" if name == "onnx-int8" else "")
        raise TextclsError(f"--backend {name} needs {path}, which does not exist: write it with {how}")
    backend = OnnxBackend(name, path, num_threads)
    fingerprint = weights_fingerprint(model_dir)
    if backend.weights != fingerprint:
        why = (
            "records no fingerprint of the weights it was exported from"
            if backend.weights is None
            else "was exported from other weights than the folder's (retrained or replaced since the export)"
        )
        if requested == "auto":
            logger.warning("%s %s: using torch; export again to use onnx", path, why)
            return TorchBackend(load_torch_model(), device, num_threads)
        raise TextclsError(f"{path} {why}: export it again with export_onnx.py, or use --backend torch")
    threads = backend.session.get_session_options().intra_op_num_threads
    logger.info("backend %s (%s), %d intra-op threads", name, path.name, threads)
    return backend
