"""The PyTorch eager counterpart of `actfn bench step`, for `cargo xtask parity --step`.

Written from the recipe of the measured step, not from actfn's code. It measures the
seconds of one training step of a network from networks.py with ReLU and 10 classes:

- setup: `torch.set_num_threads(T)`, `torch.manual_seed(0)`, the network built and put in
  train mode, SGD (lr 0.01, momentum 0.9, Nesterov, weight decay 5e-4 on every
  parameter), then one batch of B random N(0, 1) images [B, 3, 32, 32] and B random
  labels, reused by every step;
- one step: forward in train mode, mean cross-entropy, `zero_grad()` (PyTorch's default,
  which sets the gradients to None), backward, the SGD update, then `loss.item()`, which
  reads the loss as actfn does and waits for the device;
- timing: W unmeasured warm-up steps, then N steps each timed with `time.perf_counter`.

Prints one JSON object: {"network", "batch_size", "threads", "parameters", "steps",
"median_seconds", "min_seconds", "max_seconds", "peak_rss_bytes", "torch"}, where
`peak_rss_bytes` is the process's peak resident memory (getrusage's ru_maxrss), so each
measurement wants a fresh process.
"""

import argparse
import json
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from networks import ARCHS, build


def peak_rss_bytes():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return peak if sys.platform == "darwin" else peak * 1024


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arch", required=True, help=ARCHS)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=5, help="measured steps")
    p.add_argument("--warmup", type=int, default=1, help="unmeasured steps first")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--classes", type=int, default=10)
    a = p.parse_args()
    if a.batch < 1 or a.steps < 1 or a.warmup < 0 or a.threads < 1:
        p.error("--batch, --steps and --threads must be at least 1, --warmup at least 0")

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    try:
        net = build(a.arch, a.classes)
    except ValueError as e:
        p.error(str(e))
    net.train()
    parameters = sum(w.numel() for w in net.parameters() if w.requires_grad)
    optimiser = torch.optim.SGD(
        net.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4
    )
    x = torch.randn(a.batch, 3, 32, 32)
    y = torch.randint(a.classes, (a.batch,))

    times = []
    for i in range(a.warmup + a.steps):
        start = time.perf_counter()
        loss = F.cross_entropy(net(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        loss.item()
        if i >= a.warmup:
            times.append(time.perf_counter() - start)

    print(
        json.dumps(
            {
                "network": a.arch,
                "batch_size": a.batch,
                "threads": torch.get_num_threads(),
                "parameters": parameters,
                "steps": len(times),
                "median_seconds": statistics.median(times),
                "min_seconds": min(times),
                "max_seconds": max(times),
                "peak_rss_bytes": peak_rss_bytes(),
                "torch": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
