#!/usr/bin/python3
"""PyTorch side of bench/infer: torchvision's EfficientNet-B0 in eval mode, eager, under torch.inference_mode()
(no autograd bookkeeping at all), in both memory formats; the faster format is PyTorch at its best.

    /usr/bin/python3 bench/infer/pytorch_eager.py --threads T --size S --batches 1,32 --iters N --warmup W [--iters32 N]

Prints one JSON object {"torch", "threads", "results": {batch: {format: [milliseconds per forward, ...]}}}.
"""
import argparse
import json
import time

import torch
from torchvision.models import efficientnet_b0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--batches', default='1,32')
    parser.add_argument('--iters', type=int, default=20)
    parser.add_argument('--iters-large', type=int, default=3, help='iterations for batches above 8')
    parser.add_argument('--warmup', type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = efficientnet_b0().eval()
    results = {}
    for batch in [int(b) for b in args.batches.split(',')]:
        x0 = torch.randn(batch, 3, args.size, args.size)
        iters = args.iters if batch <= 8 else args.iters_large
        warmup = args.warmup if batch <= 8 else 1
        results[str(batch)] = {}
        for name, fmt in (('contiguous', torch.contiguous_format), ('channels_last', torch.channels_last)):
            model = model.to(memory_format=fmt)
            x = x0.contiguous(memory_format=fmt)
            times = []
            with torch.inference_mode():
                for i in range(warmup + iters):
                    start = time.perf_counter()
                    model(x)
                    elapsed = (time.perf_counter() - start) * 1000
                    if i >= warmup:
                        times.append(elapsed)
            results[str(batch)][name] = times
    print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads(), 'results': results}))


if __name__ == '__main__':
    main()
