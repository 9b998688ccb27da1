"""Runs under several processes (accelerate launch, torchrun) and in mixed precision: device, precision, log lines.

The Trainer does the distributed work itself (DDP, sharded evaluation gathered without padding duplicates,
saving on the main process only); what is here fills the gaps that would otherwise fail silently:
processes on a machine without GPU that each train alone, and fp16 on a CPU, which trains in fp32.
"""

from __future__ import annotations

import logging
import os

import torch

from textcls_errors import TextclsError

logger = logging.getLogger(__name__)

PRECISIONS = ("no", "fp16", "bf16")


def no_accelerator() -> bool:
    """True when torch sees no GPU or other accelerator, so that training can only run on the CPU."""
    return not torch.accelerator.is_available()


def launcher_precision() -> str:
    """The mixed precision an accelerate config asked for ('no', 'fp16' or 'bf16'; the launcher exports it)."""
    precision = os.environ.get("ACCELERATE_MIXED_PRECISION", "no").lower()
    if precision not in PRECISIONS:
        raise TextclsError(
            f"the accelerate config's mixed_precision is {precision!r}; this script accepts {', '.join(PRECISIONS)}."
        )
    return precision


def check_precision(fp16: bool, bf16: bool, device: torch.device) -> None:
    """Refuse fp16 where accelerate would quietly train in fp32 instead (it has no fp16 autocast on a CPU)."""
    if fp16 and device.type == "cpu":
        raise TextclsError(
            "fp16=True needs a GPU (CUDA, XPU, NPU, MPS...), but this run's device is the CPU, where accelerate "
            "trains in fp32 without saying so. Use bf16 on a CPU, or set fp16 to false (in the accelerate config "
            "too: mixed_precision)."
        )


def announce_process(process_index: int, world_size: int, device: torch.device) -> None:
    """One line from every process, not only the main one, so that a launch shows how many processes took part."""
    logger.setLevel(logging.INFO)  # replicas otherwise log warnings only
    logger.info("process rank %d of %d, device %s", process_index, world_size, device)
