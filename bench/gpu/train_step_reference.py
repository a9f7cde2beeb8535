"""PyTorch side of bench/gpu/train-step.bench.ts: torchvision's EfficientNet-B0 training steps (forward, cross
entropy, backward, SGD with momentum), eager, channels_last, optionally under bfloat16 autocast, on --device.
Each step ends with loss.item() (a host synchronisation), as ours does.

    python3 bench/gpu/train_step_reference.py --device cuda --batch 64 --size 224 --amp bf16 --steps 20 --warmup 5
    [--width W --depth D --strides S1,...,S7 --classes C]   (the small-image network instead of B0)

Prints one JSON object {"torch", "device", "ms": [per-step milliseconds]} on stdout.
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F
from torchvision.models import efficientnet_b0
from torchvision.models.efficientnet import EfficientNet, MBConvConfig

B0 = [(1, 3, 32, 16, 1), (6, 3, 16, 24, 2), (6, 5, 24, 40, 2), (6, 3, 40, 80, 3), (6, 5, 80, 112, 3), (6, 5, 112, 192, 4), (6, 3, 192, 320, 1)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--device', default='cuda')
    parser.add_argument('--batch', type=int, default=64)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--amp', default='bf16', choices=['none', 'bf16'])
    parser.add_argument('--steps', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--threads', type=int, default=0)
    parser.add_argument('--width', type=float, default=None)
    parser.add_argument('--depth', type=float, default=1.0)
    parser.add_argument('--strides', default='1,2,2,2,1,2,1')
    parser.add_argument('--classes', type=int, default=1000)
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True
    if args.width is None:
        model = efficientnet_b0(num_classes=args.classes)
    else:
        strides = [int(s) for s in args.strides.split(',')]
        setting = [MBConvConfig(e, k, s, i, o, n, width_mult=args.width, depth_mult=args.depth) for (e, k, i, o, n), s in zip(B0, strides)]
        model = EfficientNet(setting, dropout=0.2, num_classes=args.classes)
    device = torch.device(args.device)
    model = model.to(device).to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(args.batch, 3, args.size, args.size, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, args.classes, (args.batch,), device=device)
    times = []
    for i in range(args.warmup + args.steps):
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.amp == 'bf16'):
            loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss.item()
        if i >= args.warmup:
            times.append((time.perf_counter() - start) * 1000)
    print(json.dumps({'torch': torch.__version__, 'device': str(device), 'ms': times}))


if __name__ == '__main__':
    main()
