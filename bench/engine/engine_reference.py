"""PyTorch side of bench/engine: per-call overhead of a tiny operator and a full training step of the demo ConvNet.

Run by bench/engine/engine.bench.ts with /usr/bin/python3 (Debian's PyTorch, the same libtorch as the binding);
prints one JSON object on stdout. PyTorch is measured at its best: plain calls, no autograd where the operator
does not need it, set_to_none gradients, the faster of the single-tensor and foreach SGD, contiguous and
channels_last both reported.
"""
import argparse
import gzip
import json
import statistics
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FASHION_MNIST = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
FASHION_MNIST_LABELS = "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz"
MEAN, STD = 0.286, 0.353


def demo_convnet(channels=(16, 32, 64), classes=10):
    """The same network as bench/engine/convnet.ts: 3 x (conv3x3 no bias, BN, ReLU, maxpool 2), flatten, linear."""
    layers, cin, size = [], 1, 28
    for out in channels:
        layers += [nn.Conv2d(cin, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(), nn.MaxPool2d(2)]
        cin, size = out, size // 2
    layers += [nn.Flatten(), nn.Linear(cin * size * size, classes)]
    return nn.Sequential(*layers)


def first_batch(batch):
    """The first `batch` training images, normalised as the demo does, and their labels (same data as ours)."""
    images = np.frombuffer(gzip.open(FASHION_MNIST).read(), dtype=np.uint8, offset=16)[: batch * 784]
    labels = np.frombuffer(gzip.open(FASHION_MNIST_LABELS).read(), dtype=np.uint8, offset=8)[:batch]
    x = torch.from_numpy(images.astype(np.float32).reshape(batch, 1, 28, 28)) * (1 / (255 * STD)) - MEAN / STD
    return x.contiguous(), torch.from_numpy(labels.astype(np.int64))


def per_call(calls, repeats):
    """Microseconds per call of add on two 4-element tensors, median over repeats, two call styles."""
    a = torch.tensor([1.0, 2.0, 3.0, 4.0])
    b = torch.tensor([4.0, 3.0, 2.0, 1.0])
    add = torch.add
    results = {}
    for name in ("torch.add(a, b)", "a + b"):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            if name == "a + b":
                for _ in range(calls):
                    a + b
            else:
                for _ in range(calls):
                    add(a, b)
            times.append((time.perf_counter() - start) / calls * 1e6)
        results[name] = statistics.median(times)
    # The Python loop's own cost, for reference (included in the figures above, as ours include the JS loop).
    start = time.perf_counter()
    for _ in range(calls):
        pass
    results["empty loop"] = (time.perf_counter() - start) / calls * 1e6
    return results


def train_step_ms(batch, steps, warmup, channels_last, foreach, seed):
    torch.manual_seed(seed)
    model = demo_convnet()
    x, y = first_batch(batch)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4, foreach=foreach)
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        elapsed = time.perf_counter() - start
        if i >= warmup:
            times.append(elapsed * 1e3)
    return statistics.median(times), sum(p.numel() for p in model.parameters()), float(loss)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--section", choices=["percall", "train"], required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    if args.section == "percall":
        out["percall_us"] = per_call(args.calls, args.repeats)
    else:
        train = {}
        for memory_format in ("contiguous", "channels_last"):
            for foreach in (False, True):
                ms, params, loss = train_step_ms(args.batch, args.steps, args.warmup, memory_format == "channels_last", foreach, args.seed)
                train[f"{memory_format}, foreach={foreach}"] = ms
                out["parameters"] = params
        out["train_step_ms"] = train
    print(json.dumps(out))


if __name__ == "__main__":
    main()
