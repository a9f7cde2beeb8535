#!/usr/bin/python3
"""PyTorch reference of bench/train: images/s of a full training step with its data loader, and of the loader alone.

Data: the CIFAR-10 JPEG tar.gz read into memory (no unpacking to disk), decoded with PIL in DataLoader worker
processes, RandomResizedCrop(size, bicubic) + horizontal flip + ToTensor + ImageNet normalisation. Step:
torchvision efficientnet_b0 (10 classes, channels_last), a per-step torch.manual_seed, forward, cross entropy with
label smoothing 0.1, backward, timm's RMSpropTF (alpha 0.9, momentum 0.9, eps 1e-3 inside the square root, square
average starting at ones, lr folded into the momentum buffer; weight decay 1e-5 without BN/bias) written with the
same _foreach ops in the same order as effnet's src/optim/rmsprop-tf.ts, an EMA update (decay
min(0.999, (1 + n) / (10 + n)), _foreach ops, buffers copied) and the batch's top-1 count: the same work as effnet's
Trainer step. Prints one JSON line.

usage: /usr/bin/python3 bench/train/train_reference.py --data ../shared/data/cifar10-train.tar.gz --size 32
       --batch 32 --steps 20 --warmup 3 --threads 2 --workers 2
"""
import argparse
import io
import json
import os
import sys
import tarfile
import time

import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms
from torchvision.models import efficientnet_b0

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class TarImages(torch.utils.data.Dataset):
    def __init__(self, path, transform):
        self.items = []
        classes = {}
        with tarfile.open(path, 'r:*') as tar:
            for member in sorted(tar.getmembers(), key=lambda m: m.name):
                if not member.isfile() or not member.name.lower().endswith(('.jpg', '.jpeg', '.png')):
                    continue
                label = classes.setdefault(member.name.split('/')[-2], len(classes))
                self.items.append((tar.extractfile(member).read(), label))
        self.transform = transform

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        data, label = self.items[i]
        return self.transform(Image.open(io.BytesIO(data)).convert('RGB')), label


class RMSpropTF:
    """timm's RMSpropTF with the _foreach ops of effnet's src/optim/rmsprop-tf.ts, in its order (no centering,
    weight decay added to the gradient, lr folded into the momentum buffer)."""

    def __init__(self, groups, lr, alpha=0.9, eps=1e-3, momentum=0.9):
        self.groups = [{'params': params, 'weight_decay': wd,
                        'square_avg': [torch.ones_like(p) for p in params],
                        'momentum_buffer': [torch.zeros_like(p) for p in params]} for params, wd in groups]
        self.lr, self.alpha, self.eps, self.momentum = lr, alpha, eps, momentum

    def zero_grad(self):
        for group in self.groups:
            for p in group['params']:
                p.grad = None

    @torch.no_grad()
    def step(self):
        for group in self.groups:
            params, square_avgs, buffers = group['params'], group['square_avg'], group['momentum_buffer']
            grads = [p.grad for p in params]
            if group['weight_decay'] != 0:
                grads = torch._foreach_add(grads, params, alpha=group['weight_decay'])
            square_step = torch._foreach_mul(grads, grads)
            torch._foreach_sub_(square_step, square_avgs)
            torch._foreach_add_(square_avgs, square_step, alpha=1 - self.alpha)
            denominators = torch._foreach_add(square_avgs, self.eps)
            torch._foreach_sqrt_(denominators)
            torch._foreach_mul_(buffers, self.momentum)
            torch._foreach_addcdiv_(buffers, grads, denominators, self.lr)
            torch._foreach_sub_(params, buffers)


T0 = time.perf_counter()


def cpu_seconds(it):
    """CPU seconds used so far by this process (all threads) and the loader's live worker processes."""
    total = time.process_time()
    for worker in getattr(it, '_workers', []):
        with open(f'/proc/{worker.pid}/stat') as f:
            fields = f.read().rsplit(')', 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')
    return total


def log(message):
    """Progress on stderr with the elapsed time (stdout carries only the JSON result)."""
    print(f'[train_reference {time.perf_counter() - T0:.1f}s] {message}', file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', required=True)
    ap.add_argument('--size', type=int, default=32)
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--steps', type=int, default=20)
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--workers', type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tf = transforms.Compose([
        transforms.RandomResizedCrop(args.size, interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.RandomHorizontalFlip(), transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    dataset = TarImages(args.data, tf)
    log(f'size {args.size}: read {len(dataset)} JPEGs')
    total = args.warmup + args.steps

    def loader():
        return torch.utils.data.DataLoader(dataset, batch_size=args.batch, shuffle=True, drop_last=True,
                                           num_workers=args.workers, prefetch_factor=2 if args.workers > 0 else None)

    # Loader alone.
    it = iter(loader())
    for _ in range(args.warmup):
        next(it)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        next(it)
    loader_ips = args.steps * args.batch / (time.perf_counter() - t0)
    del it
    log(f'size {args.size}: loader alone {loader_ips:.0f} img/s')

    model = efficientnet_b0(num_classes=10).to(memory_format=torch.channels_last).train()
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = RMSpropTF([(no_decay, 0.0), (decay, 1e-5)], lr=0.002)
    params = list(model.parameters())
    buffers = list(model.buffers())
    ema = [p.detach().clone() for p in params]
    ema_buffers = [b.clone() for b in buffers]
    it = iter(loader())
    times = []
    for step in range(total):
        x, y = next(it)
        torch.manual_seed(step)
        x = x.contiguous(memory_format=torch.channels_last)
        logits = model(x)
        loss = F.cross_entropy(logits, y, label_smoothing=0.1)
        loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
        opt.zero_grad()
        with torch.no_grad():
            d = min(0.999, (1 + step) / (10 + step))
            torch._foreach_mul_(ema, d)
            torch._foreach_add_(ema, [p.detach() for p in params], alpha=1 - d)
            for target, source in zip(ema_buffers, buffers):
                target.copy_(source)
            hits = logits.detach().topk(1, dim=1).indices.eq(y.unsqueeze(1))
            hits[:, 0].sum().item()
            hits.sum().item()
        times.append(time.perf_counter())
        if step + 1 == args.warmup:
            cpu0 = cpu_seconds(it)
        if step + 1 == total:
            cpu1 = cpu_seconds(it)
        log(f'size {args.size}: train step {step + 1}')
    train_ips = args.steps * args.batch / (times[-1] - times[args.warmup - 1])
    print(json.dumps({'size': args.size, 'batch': args.batch, 'threads': args.threads, 'workers': args.workers,
                      'trainImagesPerSecond': train_ips, 'loaderImagesPerSecond': loader_ips,
                      'trainCpuMsPerImage': (cpu1 - cpu0) * 1000 / (args.steps * args.batch), 'torch': torch.__version__}))


if __name__ == '__main__':
    main()
