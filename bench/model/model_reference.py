#!/usr/bin/python3
"""PyTorch side of bench/model: torchvision's EfficientNet-B0, eager, timed like model.bench.ts times ours.

    /usr/bin/python3 bench/model/model_reference.py --threads T --batch B --size S --iters N --warmup W \
        --formats contiguous,channels_last --modes forward,train [--width W --depth D --strides S1,...,S7 --classes C]
        [--amp none|bf16]

With --width (and --depth, --strides, --classes) the model is torchvision's EfficientNet built from B0's stages with
those multipliers and stage strides (as bench/train/small_images_reference.py builds it) instead of efficientnet_b0().

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
from torchvision.models.efficientnet import EfficientNet, MBConvConfig

# B0's stages: expansion, kernel, input channels, output channels, repeats (strides from --strides).
B0 = [(1, 3, 32, 16, 1), (6, 3, 16, 24, 2), (6, 5, 24, 40, 2), (6, 3, 40, 80, 3), (6, 5, 80, 112, 3), (6, 5, 112, 192, 4), (6, 3, 192, 320, 1)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--iters', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--formats', default='contiguous,channels_last')
    parser.add_argument('--modes', default='forward,train')
    parser.add_argument('--width', type=float, default=None)
    parser.add_argument('--depth', type=float, default=1.0)
    parser.add_argument('--strides', default='1,2,2,2,1,2,1')
    parser.add_argument('--classes', type=int, default=1000)
    parser.add_argument('--amp', default='none', choices=['none', 'bf16'])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.width is None:
        model = efficientnet_b0(num_classes=args.classes)
    else:
        strides = [int(s) for s in args.strides.split(',')]
        if len(strides) != len(B0):
            raise SystemExit(f'model_reference.py: --strides needs {len(B0)} values, got {args.strides}')
        setting = [MBConvConfig(e, k, s, i, o, n, width_mult=args.width, depth_mult=args.depth) for (e, k, i, o, n), s in zip(B0, strides)]
        model = EfficientNet(setting, dropout=0.2, num_classes=args.classes)
    x0 = torch.randn(args.batch, 3, args.size, args.size)
    y = torch.randint(0, args.classes, (args.batch,))
    results = {}
    for memory_format in args.formats.split(','):
        fmt = torch.channels_last if memory_format == 'channels_last' else torch.contiguous_format
        model = model.to(memory_format=fmt)
        x = x0.contiguous(memory_format=fmt)
        results[memory_format] = {}
        for mode in args.modes.split(','):
            times = []
            for i in range(args.warmup + args.iters):
                autocast = torch.autocast('cpu', dtype=torch.bfloat16, enabled=args.amp == 'bf16')
                if mode == 'forward':
                    model.eval()
                    start = time.perf_counter()
                    with torch.no_grad(), autocast:
                        model(x)
                else:
                    model.train()
                    for p in model.parameters():
                        p.grad = None
                    start = time.perf_counter()
                    with autocast:
                        loss = F.cross_entropy(model(x), y)
                    loss.backward()
                elapsed = (time.perf_counter() - start) * 1000
                if i >= args.warmup:
                    times.append(elapsed)
            results[memory_format][mode] = times
    print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads(), 'results': results}))


if __name__ == '__main__':
    main()
