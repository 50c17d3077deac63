"""The PyTorch eager reference of actfn's training recipe, for `cargo xtask parity`.

Written independently of actfn's Rust code, from the recipe alone, so that a side-by-side
run shows whether actfn learns what PyTorch learns from the same images:

- data: the CIFAR binary files; the training and validation images are the positions that
  `actfn data split` printed (the same images as `actfn train`), the test images are the
  first N of the official test file;
- preprocessing: pixels / 255, featurewise centring and ZCA whitening
  W = U diag(1 / sqrt(lambda + eps)) U^T fitted on the training images (numpy, float64);
- network: `--arch` as defined in networks.py (WRN-d-k, the CIFAR ResNet, VGG, All-CNN-C,
  an MLP, MobileNetV2), ReLU, dropout 0.3 in the WRN only; without `--arch`, WRN-d-k from
  `--depth` and `--width` (xternalz/WideResNet-pytorch: pre-activation basic blocks, dropout
  between the two convolutions, a 1x1 shortcut convolution of the first activation where
  the width changes, BN and ReLU before global average pooling); convolutions initialised
  by PyTorch's default (`--init uniform`) or N(0, 2 / (k*k*c_out)) with a zero bias
  (`--init he`); batch normalisation weight 1, bias 0; linear layers PyTorch's default
  weight and bias 0;
- training: SGD lr 0.1, momentum 0.9, Nesterov, weight decay 5e-4 on every parameter,
  batch 128 (last batch kept), reshuffled every epoch, random horizontal flips, the
  learning rate x0.2 at each milestone epoch (MultiStepLR), cross-entropy;
- evaluation: eval mode, mean cross-entropy and accuracy.

Prints one JSON object: {"val_acc", "val_loss", "test_acc", "seconds", "step_seconds"}.
"""

import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from networks import ARCHS, build

RECORD = {"cifar10": (1, 3073), "cifar100": (2, 3074)}
FILES = {
    "cifar10": (
        "cifar-10-batches-bin",
        [f"data_batch_{i}.bin" for i in range(1, 6)],
        ["test_batch.bin"],
    ),
    "cifar100": ("cifar-100-binary", ["train.bin"], ["test.bin"]),
}


def read(dataset, data_dir, names):
    label_bytes, length = RECORD[dataset]
    folder = FILES[dataset][0]
    parts = []
    for name in names:
        raw = np.fromfile(os.path.join(data_dir, folder, name), dtype=np.uint8)
        parts.append(raw.reshape(-1, length))
    records = np.concatenate(parts)
    # CIFAR-100: coarse label, then fine label; the fine label is the class.
    labels = records[:, label_bytes - 1].astype(np.int64)
    images = records[:, label_bytes:]
    return images, labels


def whitening(train, eps):
    x = train.astype(np.float64) / 255.0
    mean = x.mean(axis=0)
    xc = x - mean
    cov = xc.T @ xc / x.shape[0]
    lam, u = np.linalg.eigh(cov)
    w = (u * (1.0 / np.sqrt(np.clip(lam, 0.0, None) + eps))) @ u.T

    def apply(images):
        z = (images.astype(np.float64) / 255.0 - mean) @ w
        return torch.from_numpy(z.astype(np.float32)).view(-1, 3, 32, 32)

    return apply


def evaluate(net, x, y, batch=500):
    net.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            logits = net(x[i : i + batch])
            loss += F.cross_entropy(logits, y[i : i + batch], reduction="sum").item()
            correct += (logits.argmax(1) == y[i : i + batch]).sum().item()
    return loss / x.shape[0], correct / x.shape[0]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", choices=sorted(RECORD), required=True)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--split", required=True, help="JSON from `actfn data split`")
    p.add_argument("--test-size", type=int, required=True)
    p.add_argument("--depth", type=int, default=10)
    p.add_argument("--width", type=int, default=1)
    p.add_argument(
        "--arch", help=f"{ARCHS} [default: wrn-DEPTH-WIDTH from --depth and --width]"
    )
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--milestones", default="", help="comma-separated epochs")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--zca-epsilon", type=float, required=True)
    p.add_argument("--init", choices=["uniform", "he"], required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()

    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    torch.set_num_threads(a.threads)
    _, train_files, test_files = FILES[a.dataset]
    images, labels = read(a.dataset, a.data_dir, train_files)
    test_images, test_labels = read(a.dataset, a.data_dir, test_files)
    with open(a.split) as f:
        split = json.load(f)
    tr, va = np.array(split["train"]), np.array(split["val"])
    apply = whitening(images[tr], a.zca_epsilon)
    x_train, y_train = apply(images[tr]), torch.from_numpy(labels[tr])
    x_val, y_val = apply(images[va]), torch.from_numpy(labels[va])
    x_test = apply(test_images[: a.test_size])
    y_test = torch.from_numpy(test_labels[: a.test_size])
    classes = 10 if a.dataset == "cifar10" else 100

    arch = a.arch or f"wrn-{a.depth}-{a.width}"
    try:
        net = build(arch, classes, init=a.init, dropout=0.3)
    except ValueError as e:
        p.error(str(e))
    opt = torch.optim.SGD(net.parameters(), lr=a.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    milestones = [int(m) for m in a.milestones.split(",") if m.strip()]
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=0.2)
    start, steps, step_time = time.perf_counter(), 0, 0.0
    n = x_train.shape[0]
    for _ in range(a.epochs):
        net.train()
        order = torch.randperm(n)
        for i in range(0, n, a.batch):
            idx = order[i : i + a.batch]
            x = x_train[idx]
            flip = torch.rand(x.shape[0]) < 0.5
            x[flip] = x[flip].flip(3)
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(x), y_train[idx])
            loss.backward()
            opt.step()
            step_time += time.perf_counter() - t0
            steps += 1
        sched.step()
    val_loss, val_acc = evaluate(net, x_val, y_val)
    _, test_acc = evaluate(net, x_test, y_test) if a.test_size > 0 else (None, None)
    print(
        json.dumps(
            {
                "val_acc": val_acc,
                "val_loss": val_loss,
                "test_acc": test_acc,
                "seconds": time.perf_counter() - start,
                "step_seconds": step_time / max(steps, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
