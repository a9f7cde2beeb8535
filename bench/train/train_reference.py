#!/usr/bin/python3
"""PyTorch reference of bench/train: images/s of a full training step with its data loader, and of the loader alone.

Data: the CIFAR-10 JPEG tar.gz read into memory (no unpacking to disk), decoded with PIL in DataLoader worker
processes, RandomResizedCrop(size, bicubic) + horizontal flip + ToTensor + ImageNet normalisation. Step:
torchvision efficientnet_b0 (10 classes, channels_last), forward, cross entropy with label smoothing 0.1, backward,
RMSprop (alpha 0.9, momentum 0.9, eps 1e-3, weight decay 1e-5, foreach) and an EMA update with _foreach ops: the
same work as effnet's Trainer step. Prints one JSON line.

usage: /usr/bin/python3 bench/train/train_reference.py --data ../shared/data/cifar10-train.tar.gz --size 32
       --batch 32 --steps 20 --warmup 3 --threads 2 --workers 2
"""
import argparse
import io
import json
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


T0 = time.perf_counter()


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
    opt = torch.optim.RMSprop([{'params': no_decay, 'weight_decay': 0.0}, {'params': decay, 'weight_decay': 1e-5}],
                              lr=0.002, alpha=0.9, eps=1e-3, momentum=0.9, foreach=True)
    ema = [p.detach().clone() for p in model.parameters()]
    params = list(model.parameters())
    it = iter(loader())
    times = []
    for step in range(total):
        x, y = next(it)
        x = x.contiguous(memory_format=torch.channels_last)
        loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            torch._foreach_mul_(ema, 0.999)
            torch._foreach_add_(ema, [p.detach() for p in params], alpha=0.001)
        loss.item()
        times.append(time.perf_counter())
        log(f'size {args.size}: train step {step + 1}')
    train_ips = args.steps * args.batch / (times[-1] - times[args.warmup - 1])
    print(json.dumps({'size': args.size, 'batch': args.batch, 'threads': args.threads, 'workers': args.workers,
                      'trainImagesPerSecond': train_ips, 'loaderImagesPerSecond': loader_ips, 'torch': torch.__version__}))


if __name__ == '__main__':
    main()
