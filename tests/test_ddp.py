"""Multi-process training (DistributedDataParallel) on the CPU with the gloo backend.

1. One step with 2 processes, each on half of a fixed global batch, gives the same loss,
   gradients and updated weights as one process on the whole batch.

   BatchNorm is the one honest difference: in training mode each process normalises with its
   own half-batch's statistics, which is a different function of the data than normalising
   with the whole batch's. On CUDA the trainer converts BatchNorm to SyncBatchNorm, which
   makes them equal, but PyTorch's SyncBatchNorm runs only on GPUs (it raises on CPU
   tensors). So this test puts BatchNorm in eval mode (fixed running statistics, a per-image
   function) in both runs: what is compared is exactly DDP's part, the sharding and the
   gradient averaging.

2. ``torchrun --nproc_per_node 2 -m splitbrain pretrain`` runs end to end, and only rank 0
   writes the checkpoint, the metrics and the summary.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from splitbrain.checkpoint import load_checkpoint, read_metrics
from splitbrain.presets import get_preset
from splitbrain.runtime import init_distributed
from splitbrain.models import build_model, build_targets_for
from splitbrain.train import SplitBrainObjective, forward_backward, optimizer_step

WORLD = 2
GLOBAL_BATCH = 8


def config():
    return get_preset("smoke", image_size=16, grid=4, batch_size=GLOBAL_BATCH, device="cpu")


def fixed_batch() -> torch.Tensor:
    return torch.randint(0, 256, (GLOBAL_BATCH, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(7))


def one_step(model, rgb):
    """Loss, gradients and weights after one SGD step on ``rgb`` (BatchNorm in eval mode).

    SGD, not Adam: Adam's first update is lr * g / (|g| + eps), about lr * sign(g), which turns
    float-rounding differences of near-zero gradients into full-size weight differences.
    """
    cfg = config()
    objective = SplitBrainObjective(build_targets_for(cfg))
    raw = model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model
    optimizer = torch.optim.SGD(raw.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    model.train()
    for module in raw.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()
    loss, _ = forward_backward(model, objective, rgb, None, scaler)
    grads = {name: p.grad.clone() for name, p in raw.named_parameters() if p.grad is not None}
    optimizer_step(optimizer, scaler)
    weights = {name: p.detach().clone() for name, p in raw.named_parameters()}
    return loss, grads, weights


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ddp_worker(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(WORLD), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    ctx = init_distributed("cpu")
    assert ctx.enabled and ctx.rank == rank and dist.get_backend() == "gloo"
    torch.manual_seed(0)
    model = torch.nn.parallel.DistributedDataParallel(build_model(config()))
    share = GLOBAL_BATCH // WORLD
    loss, grads, weights = one_step(model, fixed_batch()[rank * share:(rank + 1) * share])
    dist.all_reduce(loss)
    loss /= WORLD
    if rank == 0:
        torch.save({"loss": loss, "grads": grads, "weights": weights}, out)
    dist.destroy_process_group()


def test_two_processes_match_one_process_on_the_same_global_batch(tmp_path):
    out = str(tmp_path / "ddp.pt")
    mp.spawn(ddp_worker, args=(free_port(), out), nprocs=WORLD, join=True)
    ddp = torch.load(out)

    torch.manual_seed(0)
    loss, grads, weights = one_step(build_model(config()), fixed_batch())
    assert torch.allclose(ddp["loss"], loss, rtol=1e-5, atol=1e-6)
    assert grads.keys() == ddp["grads"].keys() and len(grads) > 10
    for name in grads:
        assert torch.allclose(ddp["grads"][name], grads[name], rtol=1e-4, atol=1e-7), name
    for name in weights:
        assert torch.allclose(ddp["weights"][name], weights[name], rtol=1e-5, atol=1e-6), name
    # Guard against a vacuous pass: one step moved the weights.
    torch.manual_seed(0)
    initial = dict(build_model(config()).named_parameters())
    assert not torch.allclose(initial["half1.trunk.stages.conv1.0.weight"], weights["half1.trunk.stages.conv1.0.weight"])


def test_torchrun_pretrain_end_to_end(tmp_path):
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(WORLD),
        "-m", "splitbrain", "pretrain", "--preset", "smoke", "--device", "cpu", "--epochs", "1",
        "--image-size", "16", "--batch-size", "8", "--set", "grid=4", "--set", "max_steps_per_epoch=2",
        "--set", "log_every=1", "--out", str(out), "--no-record",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("pretrained splitbrain simplenet") == 1  # rank 0 only
    checkpoint = load_checkpoint(out / "checkpoint.pt")
    assert checkpoint["world_size"] == WORLD and checkpoint["step"] == 2 and checkpoint["epoch"] == 1
    steps = [r for r in read_metrics(out / "metrics.jsonl") if r["kind"] == "step"]
    assert [r["step"] for r in steps] == [1, 2]  # written once, not once per process
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "config.json", "metrics.jsonl"]
