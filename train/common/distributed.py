"""Data-parallel training under ``torchrun``: which process this is, its process group, and the few collectives training needs.

``torchrun --nproc-per-node N run.py ...`` starts N copies of ``run.py`` with
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE`` and
``MASTER_ADDR``/``MASTER_PORT`` in their environment. `Cluster.from_environment`
reads them; a plain ``python run.py`` gets a one-process cluster whose
collectives return their input, so the training code reads the same either way
and behaves exactly as without torchrun.

How the work is shared (see `data_processor.batching.BucketBatcher`): every
process draws the same batches in the same order (same seed) and trains on its
share of each; `DistributedDataParallel` averages the gradients, so one step
of N processes equals one step of one process over the whole batch. Only rank
0 (`Cluster.is_main`) writes files, caches, logs and progress bars.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import hashlib
import os
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import numpy as np
import torch
from torch import nn

from data_processor.base.errors import ConfigError
from data_processor.base.cores import usable_cores
from train.common.rundir import RunDir
from train.common.runtime import resolve_device

# How long a process waits for the others at a collective. Rank 0 may tokenize a corpus of millions of rows while the
# others wait, so this is generous; a crashed process ends the others sooner, through torchrun.
TIMEOUT = datetime.timedelta(hours=3)
ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")


@dataclass(frozen=True)
class Cluster:
    """This process's place among the data-parallel processes: its rank, how many there are, its rank on this machine."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> "Cluster":
        """The cluster torchrun's environment variables describe; one process when they are absent."""
        if "WORLD_SIZE" not in environ:
            return cls()
        try:
            values = {key: int(environ.get(key, "0" if key != "LOCAL_WORLD_SIZE" else environ["WORLD_SIZE"])) for key in ENV_KEYS}
        except ValueError:
            raise ConfigError(f"the torchrun variables {', '.join(ENV_KEYS)} must be whole numbers; start the program with "
                              "torchrun, or unset them") from None
        cluster = cls(values["RANK"], values["WORLD_SIZE"], values["LOCAL_RANK"], values["LOCAL_WORLD_SIZE"])
        if not (0 <= cluster.rank < cluster.world and 0 <= cluster.local_rank < cluster.local_world):
            raise ConfigError(f"inconsistent torchrun variables: RANK={cluster.rank}, WORLD_SIZE={cluster.world}, "
                              f"LOCAL_RANK={cluster.local_rank}, LOCAL_WORLD_SIZE={cluster.local_world}")
        return cluster

    @property
    def is_main(self) -> bool:
        """Whether this process writes the run directory, the caches, the log and the progress bars (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether there is more than one process."""
        return self.world > 1

    def resolve_device(self, name: str) -> torch.device:
        """``--device name`` for these processes: as `resolve_device`, except that ``auto`` means the CPU when this
        machine has fewer GPUs than processes (one GPU per process, or none)."""
        if name == "auto" and self.distributed and torch.cuda.is_available() and torch.cuda.device_count() < self.local_world:
            return torch.device("cpu")
        return resolve_device(name)

    def device(self, name: str) -> torch.device:
        """The device ``--device name`` means for this process: with CUDA, the GPU of its local rank."""
        device = self.resolve_device(name)
        if device.type == "cuda" and self.distributed:
            if self.local_rank >= torch.cuda.device_count():
                raise ConfigError(f"local rank {self.local_rank} has no GPU of its own (this machine has {torch.cuda.device_count()}); "
                                  "start at most one process per GPU (--nproc-per-node), or use --device cpu")
            device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(device)
        return device

    def default_threads(self) -> int:
        """Torch threads per process when --threads is not given: this machine's cores shared among its processes."""
        return max(1, usable_cores() // self.local_world)

    # ---------------------------------------------------------------- collectives (no-ops for one process)

    def barrier(self) -> None:
        """Wait until every process gets here."""
        if self.distributed:
            torch.distributed.barrier()

    @contextlib.contextmanager
    def main_first(self) -> Iterator[None]:
        """Run the block in rank 0 first (it fills the caches), then in the others (which find them filled)."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj``, in every process (a decision made once, shared)."""
        if not self.distributed:
            return obj
        box = [obj]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj: Any) -> list[Any]:
        """Every process's ``obj``, in rank order."""
        if not self.distributed:
            return [obj]
        out: list[Any] = [None] * self.world
        torch.distributed.all_gather_object(out, obj)
        return out

    def sum(self, values: dict[str, float]) -> dict[str, float]:
        """Each value summed over the processes (every process holds the same keys)."""
        if not self.distributed or not values:
            return values
        keys = sorted(values)
        total = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64)
        torch.distributed.all_reduce(total)
        return dict(zip(keys, total.tolist()))

    def sum_array(self, array: np.ndarray) -> np.ndarray:
        """``array`` summed element-wise over the processes (each fills its own rows, zeros elsewhere)."""
        if not self.distributed:
            return array
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        torch.distributed.all_reduce(tensor)
        return tensor.numpy()

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is true in any process."""
        if not self.distributed:
            return flag
        tensor = torch.tensor([int(flag)])
        torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.MAX)
        return bool(tensor.item())

    def check_same(self, what: str, value: str) -> None:
        """A `ConfigError` unless ``value`` (e.g. a vocabulary's tokens) is the same in every process."""
        digests = self.gather(hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest())
        differs = [rank for rank, digest in enumerate(digests) if digest != digests[0]]
        if differs:
            raise ConfigError(f"rank {differs[0]} built another {what} than rank 0; give every process the same data files "
                              "and settings")

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """``model`` for training: inside `DistributedDataParallel` (rank 0's weights copied to all) when distributed."""
        if not self.distributed:
            return model
        return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


SINGLE = Cluster()


def check_same_world(run: RunDir, cluster: Cluster) -> None:
    """A `ConfigError` when a run is resumed by another number of processes than trained it (the batches would differ)."""
    trained = run.load_json("config.json").get("world_size", 1)
    if trained != cluster.world:
        how = "python run.py" if trained == 1 else f"torchrun --nproc-per-node {trained} run.py"
        raise ConfigError(f"{run.path}: this run was trained by {trained} process(es) and is being resumed by {cluster.world}; "
                          f"resume it as it was started, with {how}")


@contextlib.contextmanager
def process_group(cluster: Cluster, device_name: str) -> Iterator[Cluster]:
    """The process group of ``cluster`` for the block (gloo on CPU, NCCL with CUDA); nothing for one process."""
    if not cluster.distributed:
        yield cluster
        return
    backend = "nccl" if cluster.resolve_device(device_name).type == "cuda" else "gloo"
    torch.distributed.init_process_group(backend, rank=cluster.rank, world_size=cluster.world, timeout=TIMEOUT)
    try:
        yield cluster
        torch.distributed.barrier()  # no process tears the group down while another still uses it
    finally:
        gc.collect()  # DDP wrappers sit in reference cycles: free them (and their gloo work) while the interpreter is whole
        torch.distributed.destroy_process_group()
