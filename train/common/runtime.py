"""Run-time settings shared by every command: seeds, device, threads."""

from __future__ import annotations

import random

import numpy as np
import torch

from data_processor.base.errors import ConfigError
from data_processor.base.cores import usable_cores
from data_processor.base.settings import DEVICES


def set_seed(seed: int) -> None:
    """Seed Python's, numpy's and torch's generators, so a run can be repeated exactly."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when a GPU is present, else the CPU; ``cuda`` without a GPU is an error."""
    if name not in DEVICES:
        raise ConfigError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but torch sees no CUDA GPU; use --device cpu or auto")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def set_threads(threads: int | None) -> int:
    """Use ``threads`` intra-op threads (default: one per available core). Returns the number set."""
    if threads is None:
        threads = usable_cores()
    if threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)
    return threads


def release_free_memory() -> bool:
    """Collect garbage and hand the C heap's free pages back to the system (glibc's ``malloc_trim``; elsewhere only
    the garbage collection). Segmenting a large corpus leaves the heap full of freed holes; without this, training's
    tensors land beside them and the process keeps both. Returns whether pages could be handed back."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    name = ctypes.util.find_library("c")
    try:
        return bool(ctypes.CDLL(name).malloc_trim(0)) if name else False
    except (OSError, AttributeError):  # not glibc
        return False
