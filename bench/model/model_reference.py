#!/usr/bin/python3
"""PyTorch side of bench/model: torchvision's EfficientNet-B0, eager, timed like model.bench.ts times ours.

    /usr/bin/python3 bench/model/model_reference.py --threads T --batch B --size S --iters N --warmup W \
        --formats contiguous,channels_last --modes forward,train

forward: eval mode under torch.no_grad(), one forward of the batch. train: train mode, forward + cross entropy
+ backward (gradients set to None before each iteration, as an optimizer's zero_grad does). Prints one JSON object
{"torch", "threads", "results": {format: {mode: [milliseconds per iteration, ...]}}} on stdout.
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F
from torchvision.models import efficientnet_b0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--iters', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--formats', default='contiguous,channels_last')
    parser.add_argument('--modes', default='forward,train')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = efficientnet_b0()
    x0 = torch.randn(args.batch, 3, args.size, args.size)
    y = torch.randint(0, 1000, (args.batch,))
    results = {}
    for memory_format in args.formats.split(','):
        fmt = torch.channels_last if memory_format == 'channels_last' else torch.contiguous_format
        model = model.to(memory_format=fmt)
        x = x0.contiguous(memory_format=fmt)
        results[memory_format] = {}
        for mode in args.modes.split(','):
            times = []
            for i in range(args.warmup + args.iters):
                if mode == 'forward':
                    model.eval()
                    start = time.perf_counter()
                    with torch.no_grad():
                        model(x)
                else:
                    model.train()
                    for p in model.parameters():
                        p.grad = None
                    start = time.perf_counter()
                    F.cross_entropy(model(x), y).backward()
                elapsed = (time.perf_counter() - start) * 1000
                if i >= args.warmup:
                    times.append(elapsed)
            results[memory_format][mode] = times
    print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads(), 'results': results}))


if __name__ == '__main__':
    main()
