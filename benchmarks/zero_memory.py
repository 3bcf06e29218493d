"""adamlib under torch.distributed: DDP and ZeRO stage 1 on 2 processes, measured against 1.

    python benchmarks/zero_memory.py            # about half a minute; writes zero_memory.json
    python benchmarks/zero_memory.py --out /tmp/zero.json

Two processes on this machine (CPU, the gloo backend, loopback only) train the same small
float64 ``torch.nn`` model on halves of the same global batch, four ways:

``ddp``               ``DistributedDataParallel`` and ``adamlib.torch.AdamW`` on every rank;
``zero``              ``ZeroRedundancyOptimizer(optimizer_class=adamlib.torch.AdamW)``: each rank
                      keeps m and v for its share of the parameters only;
``zero_bucket_view``  the same with ``parameters_as_bucket_view=True`` (the parameters become
                      views into one flat buffer per rank, which adamlib follows);
``checkpoint``        the ``zero`` run's state consolidated on rank 0 (``consolidate_state_dict``,
                      then ``state_dict()``), loaded by a single-process ``adamlib.torch.AdamW``
                      and by ``torch.optim.AdamW``, and continued beside the ZeRO run.

This process runs the single-process reference meanwhile (the whole batch, one optimizer) and
writes what the "Adam's memory" chapter reads: the bytes of m and v each rank holds against the
single process's, and the largest weight deviation of every run from the reference. The chapter
cannot run this itself (the book builds without torch); ``tests/test_distributed.py`` runs it
and checks the same numbers.

Networking: the processes meet through a file (``FileStore``), not a TCP rendezvous — torch's
``TCPStore`` server listens on every interface, whatever host it is given — and gloo's own
connections are bound to the loopback interface (``GLOO_SOCKET_IFNAME``). Every wait has a
deadline: the process group's timeout for collectives, and the launcher's for the processes,
which it kills when one fails or time runs out, then raises with the end of each one's output.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time

STARTED = time.monotonic()  # this process's start, near enough: for the progress lines
ROOT = pathlib.Path(__file__).resolve().parents[1]
WORLD_SIZE = 2
STEPS = 8            # steps before the checkpoint
MORE_STEPS = 4       # steps after it
BATCH = 32           # the global batch; each rank takes BATCH // WORLD_SIZE rows
WIDTH, LAYERS = 32, 4
HYPERPARAMETERS = dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2)
COLLECTIVE_TIMEOUT_S = 60   # a collective that waits longer fails (the other rank died)
LAUNCH_TIMEOUT_S = 120      # the whole 2-process run, startup included: a ceiling, not the usual time
STATE_KEYS = ("exp_avg", "exp_avg_sq")   # Adam's m and v, as torch names them


# ---------------------------------------------------------------------------- the experiment
def make_model(torch):
    """Four equal 32x32 layers (4224 float64 parameters): ZeRO's greedy partition, which hands
    out whole tensors, largest first, to the least-loaded rank, splits them exactly in two."""
    torch.manual_seed(0)
    nn = torch.nn
    layers = []
    for i in range(LAYERS):
        layers += [nn.Linear(WIDTH, WIDTH)] + ([nn.Tanh()] if i < LAYERS - 1 else [])
    return nn.Sequential(*layers).double()


def make_batches(torch):
    """``STEPS + MORE_STEPS`` global batches of a smooth regression target, fixed by a seed."""
    g = torch.Generator().manual_seed(1)
    teacher = torch.randn(WIDTH, WIDTH, generator=g, dtype=torch.float64) / WIDTH ** 0.5
    batches = []
    for _ in range(STEPS + MORE_STEPS):
        x = torch.randn(BATCH, WIDTH, generator=g, dtype=torch.float64)
        batches.append((x, torch.sin(x @ teacher)))
    return batches


def shard(batch, rank: int, world_size: int):
    """This rank's rows of a global batch (contiguous, equal parts)."""
    rows = BATCH // world_size
    return tuple(t[rank * rows:(rank + 1) * rows] for t in batch)


def train(model, optimizer, batches, loss_scale=1.0):
    """One optimizer step per batch on the mean squared error."""
    for x, y in batches:
        optimizer.zero_grad()
        (loss_scale * ((model(x) - y) ** 2).mean()).backward()
        optimizer.step()


def flat_weights(torch, model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).clone()


def state_bytes(optimizer) -> dict:
    """Bytes of each of Adam's state tensors (m, v) that ``optimizer`` holds, summed over parameters."""
    return {key: sum(s[key].numel() * s[key].element_size() for s in optimizer.state.values() if key in s)
            for key in STATE_KEYS}


def parameter_count(optimizer) -> int:
    return sum(p.numel() for group in optimizer.param_groups for p in group["params"])


# ---------------------------------------------------------------------------- one rank
def worker(rank: int, world_size: int, directory: pathlib.Path) -> None:
    """Everything one process of the distributed run does; results go to ``rank<r>.pt``."""
    import torch
    import torch.distributed as dist
    from torch.distributed.optim import ZeroRedundancyOptimizer
    from torch.nn.parallel import DistributedDataParallel

    import adamlib.torch

    def progress(what):  # to this rank's log, which the launcher shows if anything fails
        print(f"[rank {rank}, {time.monotonic() - STARTED:5.1f} s] {what}", flush=True)

    torch.set_num_threads(1)
    progress("imported torch and adamlib; joining the process group")
    dist.init_process_group("gloo", init_method=(directory / "store").as_uri(), rank=rank,
                            world_size=world_size, timeout=datetime.timedelta(seconds=COLLECTIVE_TIMEOUT_S))
    try:
        mine = [shard(b, rank, world_size) for b in make_batches(torch)]
        results = {}

        model = DistributedDataParallel(make_model(torch))
        train(model, adamlib.torch.AdamW(model.parameters(), **HYPERPARAMETERS), mine[:STEPS])
        progress("DDP run done")
        results["ddp"] = {"weights": flat_weights(torch, model.module)}

        for name, bucket_view in (("zero", False), ("zero_bucket_view", True)):
            model = DistributedDataParallel(make_model(torch))
            zero = ZeroRedundancyOptimizer(model.parameters(), optimizer_class=adamlib.torch.AdamW,
                                           parameters_as_bucket_view=bucket_view, **HYPERPARAMETERS)
            assert isinstance(zero.optim, adamlib.torch.AdamW)
            train(model, zero, mine[:STEPS])
            results[name] = {"weights": flat_weights(torch, model.module),
                             "state_bytes": state_bytes(zero.optim),
                             "parameters": parameter_count(zero.optim)}
            progress(f"{name} run done")
        # The bucket-view run goes on to the checkpoint: the harder case for the adapter.
        zero.consolidate_state_dict(to=0)
        if rank == 0:
            torch.save({"optimizer": zero.state_dict(), "weights": flat_weights(torch, model.module)},
                       directory / "checkpoint.pt")
        train(model, zero, mine[STEPS:])
        results["continued"] = {"weights": flat_weights(torch, model.module)}
        progress("checkpoint taken and run continued")
        results["unsupported"] = unsupported_features(torch, adamlib.torch)
        progress("unsupported features tried")
        torch.save(results, directory / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()
    progress("left the process group")


def unsupported_features(torch, adamlib_torch) -> dict:
    """What torch.distributed offers that adamlib.torch cannot take, and the error it raises."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.optim import ZeroRedundancyOptimizer

    errors = {}
    model = make_model(torch)
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            fully_shard(layer, mesh=init_device_mesh("cpu", (WORLD_SIZE,)))
    try:
        adamlib_torch.AdamW(model.parameters(), **HYPERPARAMETERS)
        errors["fully_shard"] = None
    except (TypeError, ValueError, RuntimeError) as exc:
        errors["fully_shard"] = f"{type(exc).__name__}: {exc}"
    try:
        ZeroRedundancyOptimizer(make_model(torch).parameters(), optimizer_class=adamlib_torch.AdamW,
                                overlap_with_ddp=True, **HYPERPARAMETERS)
        errors["overlap_with_ddp"] = None
    except (TypeError, ValueError, RuntimeError) as exc:
        errors["overlap_with_ddp"] = f"{type(exc).__name__}: {exc}"
    return errors


# ---------------------------------------------------------------------------- the launcher
class WorkerFailed(RuntimeError):
    """A rank of the distributed run failed or ran out of time; the message holds its output."""


def loopback_interface() -> str:
    """The name of the loopback interface (``lo`` on Linux, ``lo0`` on macOS)."""
    names = [name for _, name in socket.if_nameindex()]
    return next((n for n in names if n.startswith("lo")), "lo")


def start_workers(world_size: int, directory: pathlib.Path) -> list:
    env = {**os.environ, "GLOO_SOCKET_IFNAME": loopback_interface(), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    processes = []
    for rank in range(world_size):
        log = open(directory / f"rank{rank}.log", "w")
        processes.append(subprocess.Popen(
            [sys.executable, __file__, "--worker", str(rank), "--world-size", str(world_size),
             "--dir", str(directory)], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT))
        log.close()
    return processes


def wait_for_workers(processes: list, directory: pathlib.Path, deadline: float) -> None:
    """Wait until every rank exits; on a failure or at the deadline (a ``time.monotonic()``
    value) kill the rest and raise."""
    timed_out = False
    try:
        while any(p.poll() is None for p in processes):
            if any(p.returncode not in (None, 0) for p in processes):
                break
            if time.monotonic() > deadline:
                timed_out = True
                break
            time.sleep(0.1)
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
    if all(p.returncode == 0 for p in processes):
        return
    report = []
    for rank, p in enumerate(processes):
        tail = (directory / f"rank{rank}.log").read_text(errors="replace")[-4000:]
        report.append(f"--- rank {rank}: exit status {p.returncode} ---\n{tail}")
    raise WorkerFailed(("the distributed run passed its deadline and was killed" if timed_out
                        else "a rank of the distributed run failed") + "\n" + "\n".join(report))


# ---------------------------------------------------------------------------- comparison
def max_deviation(a, b) -> float:
    return float((a - b).abs().max())


def single_process(torch, adamlib_torch, batches, loss_scale=1.0):
    """The reference: one process, the whole batch, ``STEPS`` then ``MORE_STEPS`` steps."""
    model = make_model(torch)
    optimizer = adamlib_torch.AdamW(model.parameters(), **HYPERPARAMETERS)
    train(model, optimizer, batches[:STEPS], loss_scale)
    after = (flat_weights(torch, model), state_bytes(optimizer), parameter_count(optimizer),
             copy.deepcopy(optimizer.state_dict()))
    train(model, optimizer, batches[STEPS:], loss_scale)
    return after, flat_weights(torch, model)


def resume(torch, optimizer_class, checkpoint, batches):
    """A single process that loads the ZeRO checkpoint and trains on; its final weights."""
    model = make_model(torch)
    with torch.no_grad():  # copies: vector_to_parameters would make them views of the checkpoint
        offset = 0
        for p in model.parameters():
            p.copy_(checkpoint["weights"][offset:offset + p.numel()].view_as(p))
            offset += p.numel()
    optimizer = optimizer_class(model.parameters(), **HYPERPARAMETERS)
    optimizer.load_state_dict(copy.deepcopy(checkpoint["optimizer"]))
    train(model, optimizer, batches[STEPS:])
    return flat_weights(torch, model)


def state_deviation(a: dict, b: dict) -> float:
    """The largest difference between the m and v of two optimizer state dicts."""
    return max(max_deviation(a["state"][i][k], b["state"][i][k]) for i in a["state"] for k in STATE_KEYS)


def measure(directory: pathlib.Path, timeout_s: float = LAUNCH_TIMEOUT_S) -> dict:
    """Run the 2-process experiment and the single-process reference; the summary as JSON data."""
    import torch

    import adamlib.torch

    torch.set_num_threads(1)
    started = time.monotonic()
    processes = start_workers(WORLD_SIZE, directory)
    try:
        batches = make_batches(torch)
        (reference, single_bytes, single_parameters, single_state), reference_end = \
            single_process(torch, adamlib.torch, batches)
        # A gradient summed over ranks instead of averaged: Adam nearly ignores the scale, so this
        # shows how small a real mistake's trace can be, and that the tolerance still sees it.
        (summed, *_), _ = single_process(torch, adamlib.torch, batches, loss_scale=WORLD_SIZE)
    finally:
        wait_for_workers(processes, directory, deadline=started + timeout_s)
    ranks = [torch.load(directory / f"rank{r}.pt", weights_only=False) for r in range(WORLD_SIZE)]
    checkpoint = torch.load(directory / "checkpoint.pt", weights_only=False)
    resumed = {name: resume(torch, cls, checkpoint, batches)
               for name, cls in (("adamlib.torch.AdamW", adamlib.torch.AdamW), ("torch.optim.AdamW", torch.optim.AdamW))}
    runs = ("ddp", "zero", "zero_bucket_view")
    return {
        "world_size": WORLD_SIZE,
        "model": f"{LAYERS} Linear({WIDTH}, {WIDTH}) layers, tanh between, float64",
        "dtype": "float64",
        "parameters": single_parameters,
        "steps": STEPS,
        "more_steps_after_checkpoint": MORE_STEPS,
        "global_batch": BATCH,
        "hyperparameters": HYPERPARAMETERS,
        "single_process_state_bytes": single_bytes,
        "per_rank_state_bytes": {name: [r[name]["state_bytes"] for r in ranks] for name in runs[1:]},
        "per_rank_parameters": {name: [r[name]["parameters"] for r in ranks] for name in runs[1:]},
        "max_weight_deviation_from_single_process": {
            **{name: max(max_deviation(r[name]["weights"], reference) for r in ranks) for name in runs},
            "zero_continued_after_checkpoint": max(max_deviation(r["continued"]["weights"], reference_end)
                                                   for r in ranks),
            **{f"resumed_in_{name}": max_deviation(w, reference_end) for name, w in resumed.items()},
            "gradient_summed_not_averaged": max_deviation(summed, reference),
        },
        "max_weight_deviation_between_ranks": max(max_deviation(ranks[0][name]["weights"], r[name]["weights"])
                                                  for r in ranks for name in runs),
        "max_weight_deviation_zero_from_ddp": max(max_deviation(r[name]["weights"], r["ddp"]["weights"])
                                                  for r in ranks for name in runs[1:]),
        "max_deviation_resumed_adamlib_from_torch": max_deviation(*resumed.values()),
        "max_state_deviation_checkpoint_from_single_process": state_deviation(checkpoint["optimizer"], single_state),
        "unsupported": ranks[0]["unsupported"],
        "torch": torch.__version__.split("+")[0],
        "backend": "gloo",
        "device": "cpu",
        "date": datetime.date.today().isoformat(),
        "seconds": round(time.monotonic() - started, 1),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "benchmarks" / "zero_memory.json")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)  # this process is that rank
    parser.add_argument("--world-size", type=int, default=WORLD_SIZE, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=pathlib.Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        worker(args.worker, args.world_size, args.dir)
        return
    with tempfile.TemporaryDirectory() as directory:
        summary = measure(pathlib.Path(directory))
    args.out.write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
