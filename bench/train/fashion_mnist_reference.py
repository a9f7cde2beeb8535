#!/usr/bin/python3
"""PyTorch reference for the Fashion-MNIST small-image recipe of `effnet train` (see docs/training.md).

torchvision's EfficientNet building blocks (MBConvConfig / EfficientNet, torchvision 0.14) with the configuration
`effnet train --model custom --width 0.5 --depth 0.5 --image-size S` builds: B0's stages with the small-image
strides of src/train/small-images.ts (the earliest stride-2 stages set to 1 until S / total stride >= 2: at 32px and
40px 1, 1, 2, 2, 1, 2, 1 after the stride-2 stem, total stride 16), --dropout, --drop-path, 10 classes; and
the same recipe: SGD (momentum 0.9, Nesterov), lr 0.1 for batch 128, cosine schedule per step with a 0.5-epoch
linear warm-up from 1e-6, weight decay 1e-5 on weights with more than one dimension (not BN, not biases), label
smoothing 0.1, EMA of weights with decay min(0.9999, (1 + n) / (10 + n)) (buffers copied), channels_last, last
partial batch dropped. Data: the IDX files, grey to RGB, RandomResizedCrop(S, scale=--crop-scale, ratio=(3/4, 4/3),
bicubic) + horizontal flip + ImageNet normalisation; evaluation resizes the whole 28px image to S (bicubic).
Evaluated on the 10,000 test images after every epoch (raw and EMA weights).

Defaults are effnet's small-image defaults (dropout 0.2, stochastic depth 0.2, crop area 0.64-1); the run recorded in
BENCHMARKS.md ("Training") matches `effnet train ... --dropout 0 --drop-path 0 --crop-scale 1,1`:
  /usr/bin/python3 bench/train/fashion_mnist_reference.py --epochs 5 --threads 1 --workers 2 --crop-scale 1,1 \
      --dropout 0 --drop-path 0 --out runs/fashion-mnist-torch
and run 2 (40px, last map 3x3) adds `--image-size 40 --out runs/fmnist-v2-torch`.
Writes OUT/metrics.csv (same columns as effnet's) and prints one JSON summary line.
"""
import argparse
import copy
import csv
import gzip
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms
from torchvision.models.efficientnet import EfficientNet, MBConvConfig

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
B0_STRIDES = (1, 2, 2, 2, 1, 2, 1)
SMALL_IMAGE_MAX_SIZE = 64  # src/train/small-images.ts
SMALL_IMAGE_MIN_FEATURE = 2
B0 = [(1, 3, 32, 16, 1), (6, 3, 16, 24, 2), (6, 5, 24, 40, 2), (6, 3, 40, 80, 3), (6, 5, 80, 112, 3), (6, 5, 112, 192, 4), (6, 3, 192, 320, 1)]


def read_idx(path):
    with gzip.open(path, 'rb') as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


class IdxDataset(torch.utils.data.Dataset):
    def __init__(self, root, split, transform):
        prefix = 'train' if split == 'train' else 't10k'
        self.images = read_idx(os.path.join(root, f'{prefix}-images-idx3-ubyte.gz'))
        self.labels = read_idx(os.path.join(root, f'{prefix}-labels-idx1-ubyte.gz')).astype(np.int64)
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.images[i], 'L').convert('RGB')), int(self.labels[i])


def small_image_strides(size):
    """effnet's smallImageStages: the earliest stride-2 stages become stride 1 until size / total stride >= 2."""
    strides = list(B0_STRIDES)
    if size > SMALL_IMAGE_MAX_SIZE:
        return strides
    for i, s in enumerate(strides):
        if size / (2 * math.prod(strides)) >= SMALL_IMAGE_MIN_FEATURE:
            break
        if s > 1:
            strides[i] = 1
    return strides


def build_model(width, depth, dropout, drop_path, classes, size):
    strides = small_image_strides(size)
    setting = [MBConvConfig(e, k, s, i, o, n, width_mult=width, depth_mult=depth) for (e, k, i, o, n), s in zip(B0, strides)]
    return EfficientNet(setting, dropout=dropout, stochastic_depth_prob=drop_path, num_classes=classes)


def lr_at(step, lr, steps_per_epoch, epochs, warmup_epochs, warmup_lr=1e-6):
    t = step / steps_per_epoch
    if t < warmup_epochs:
        return warmup_lr + t * (lr - warmup_lr) / warmup_epochs
    progress = (t - warmup_epochs) / (epochs - warmup_epochs)
    return lr * (1 + math.cos(math.pi * progress)) / 2


class Ema:
    def __init__(self, model, decay):
        self.model = copy.deepcopy(model).eval()
        self.decay = decay
        self.updates = 0
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model):
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        params = dict(model.named_parameters())
        for name, value in self.model.state_dict().items():
            if name in params:
                value.mul_(d).add_(params[name].detach(), alpha=1 - d)
            else:
                value.copy_(model.state_dict()[name])
        self.updates += 1


@torch.no_grad()
def evaluate(model, loader):
    model.eval()
    loss = top1 = top5 = n = 0
    for x, y in loader:
        x = x.contiguous(memory_format=torch.channels_last)
        logits = model(x)
        loss += F.cross_entropy(logits, y, reduction='sum').item()
        top = logits.topk(5, dim=1).indices
        top1 += (top[:, 0] == y).sum().item()
        top5 += (top == y[:, None]).any(dim=1).sum().item()
        n += len(y)
    return loss / n, top1 / n, top5 / n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--data', default='/usr/share/datasets/fashion-mnist')
    ap.add_argument('--epochs', type=int, default=5)
    ap.add_argument('--batch-size', type=int, default=128)
    ap.add_argument('--lr', type=float, default=0.1)
    ap.add_argument('--warmup-epochs', type=float, default=0.5)
    ap.add_argument('--crop-scale', default='0.64,1')
    ap.add_argument('--dropout', type=float, default=0.2)
    ap.add_argument('--drop-path', type=float, default=0.2)
    ap.add_argument('--width', type=float, default=0.5)
    ap.add_argument('--depth', type=float, default=0.5)
    ap.add_argument('--image-size', type=int, default=32)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--workers', type=int, default=2)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--out', default='runs/fashion-mnist-torch')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    size = args.image_size
    train_tf = transforms.Compose([
        transforms.RandomResizedCrop(size, scale=tuple(float(v) for v in args.crop_scale.split(',')), ratio=(3 / 4, 4 / 3), interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.RandomHorizontalFlip(), transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    eval_tf = transforms.Compose([
        transforms.Resize(size, interpolation=transforms.InterpolationMode.BICUBIC), transforms.CenterCrop(size),
        transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    train = torch.utils.data.DataLoader(IdxDataset(args.data, 'train', train_tf), batch_size=args.batch_size, shuffle=True,
                                        drop_last=True, num_workers=args.workers, persistent_workers=args.workers > 0)
    test = torch.utils.data.DataLoader(IdxDataset(args.data, 'test', eval_tf), batch_size=args.batch_size, num_workers=args.workers)
    model = build_model(args.width, args.depth, args.dropout, args.drop_path, 10, size).to(memory_format=torch.channels_last)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1 and not n.endswith('.bias')]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim > 1 and not n.endswith('.bias'))]
    opt = torch.optim.SGD([{'params': no_decay, 'weight_decay': 0.0}, {'params': decay, 'weight_decay': 1e-5}],
                          lr=args.lr, momentum=0.9, nesterov=True)
    ema = Ema(model, 0.9999)
    steps_per_epoch = len(train)
    step = 0
    rows = []
    started = time.time()
    for epoch in range(args.epochs):
        model.train()
        t0 = time.time()
        loss_sum = correct = seen = batches = 0
        for x, y in train:
            x = x.contiguous(memory_format=torch.channels_last)
            for g in opt.param_groups:
                g['lr'] = lr_at(step, args.lr, steps_per_epoch, args.epochs, args.warmup_epochs)
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            ema.update(model)
            step += 1
            loss_sum += loss.item()
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
            batches += 1
        seconds = time.time() - t0
        val_loss, val_top1, val_top5 = evaluate(model, test)
        ema_loss, ema_top1, ema_top5 = evaluate(ema.model, test)
        row = dict(epoch=epoch + 1, step=step, lr=lr_at(step - 1, args.lr, steps_per_epoch, args.epochs, args.warmup_epochs),
                   trainLoss=loss_sum / batches, trainTop1=correct / seen, valLoss=val_loss, valTop1=val_top1, valTop5=val_top5,
                   emaLoss=ema_loss, emaTop1=ema_top1, emaTop5=ema_top5, imagesPerSecond=seen / seconds)
        rows.append(row)
        print(json.dumps(row), flush=True)
    with open(os.path.join(args.out, 'metrics.csv'), 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        writer.writerows(rows)
    last = rows[-1]
    print(json.dumps({'reference': 'torchvision', 'epochs': args.epochs, 'valTop1': last['valTop1'], 'emaTop1': last['emaTop1'],
                      'bestValTop1': max(r['valTop1'] for r in rows), 'bestEmaTop1': max(r['emaTop1'] for r in rows),
                      'wallSeconds': time.time() - started, 'parameters': sum(p.numel() for p in model.parameters())}))


if __name__ == '__main__':
    main()
