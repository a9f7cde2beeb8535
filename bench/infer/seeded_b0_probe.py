#!/usr/bin/python3
"""A seeded torchvision EfficientNet-B0 with data batch-norm statistics and a fitted linear head: an attempt at a
stand-in for a trained B0 in int8 checks, and why it is not one (BENCHMARKS.md, "int8 export, third sitting").

Why it was tried: this machine cannot download pretrained weights, and a B0 straight from its seeded
initialisation is a poor subject for "does int8 change the float model's answers": its batch norms hold the initial
statistics (mean 0, variance 1) rather than those of any data, and its random classifier separates images by margins
far smaller than the network's own numerical noise. Here the backbone keeps its seeded weights (torch.manual_seed(SEED),
torchvision's initialisation) and gets what a trained network has and a random one lacks, from training images of
the data (never the hold-out):
  1. batch-norm running statistics estimated on --bn-images images (cumulative average, every other layer in eval
     mode, stochastic depth off), as after training;
  2. a linear classifier over the pooled 1280 features, fitted by multinomial logistic regression (L-BFGS, L2
     penalty --l2) on --probe-images images: a linear probe of the random features.
What it showed: normalising a random 16-block network's channels to the data makes it chaotic (quantizing only its
input moves the logits by half their size), unlike a trained network; so it measures that, not the quantizer.
The result is an ordinary torchvision state dict (classifier.1 with the data's classes) for `effnet import --from
torchvision ... --variant b0`. It prints the probe's top-1 on its training images and on --check-images hold-out
images.

Preprocessing follows the imported card's eval transform: bicubic resize of the shorter side to --resize (256 for
B0's 224 crop, crop_pct 0.875), centre crop --image-size, ImageNet mean and std.

  node dist/src/cli/main.js train --data ../shared/data/cifar10-train.tar.gz --val-split 0.1 --write-split runs/cifar-split.json
  /usr/bin/python3 bench/infer/seeded_b0_probe.py --data ../shared/data/cifar10-train.tar.gz --split runs/cifar-split.json \\
      --out runs/b0-probe.pth
"""
import argparse
import os
import sys
import time

import torch
import torch.nn as nn
from torchvision import transforms
from torchvision.models import efficientnet_b0

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'train'))
from small_images_reference import TarItems, tar_split  # noqa: E402


def loader(blobs, items, transform, batch):
    return torch.utils.data.DataLoader(TarItems(blobs, items, transform), batch_size=batch, shuffle=False, num_workers=0)


def estimate_bn_statistics(model, data):
    """Running statistics of every batch norm as the cumulative average over `data` (the rest of the model in eval)."""
    model.eval()
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    with torch.no_grad():
        for images, _ in data:
            model(images)
    model.eval()


def pooled_features(model, data):
    feats, labels = [], []
    with torch.no_grad():
        for images, y in data:
            feats.append(torch.flatten(model.avgpool(model.features(images)), 1))
            labels.append(y)
    return torch.cat(feats), torch.cat(labels)


def fit_probe(x, y, classes, l2, steps):
    """Multinomial logistic regression W x + b by L-BFGS on the mean cross-entropy + l2/2 ||W||²."""
    w = torch.zeros(classes, x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(classes, dtype=torch.float64, requires_grad=True)
    x64 = x.double()
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=steps, history_size=20, line_search_fn='strong_wolfe')

    def closure():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(x64 @ w.T + b, y) + 0.5 * l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().float(), b.detach().float()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', required=True, help='a .tar.gz of <class>/<image> (the shared CIFAR-10 split)')
    ap.add_argument('--split', required=True, help='split.json written by effnet train --write-split')
    ap.add_argument('--out', required=True, help='the torchvision state dict to write (.pth)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--bn-images', type=int, default=512)
    ap.add_argument('--probe-images', type=int, default=4000)
    ap.add_argument('--check-images', type=int, default=1000)
    ap.add_argument('--l2', type=float, default=1e-3)
    ap.add_argument('--steps', type=int, default=500)
    ap.add_argument('--image-size', type=int, default=224)
    ap.add_argument('--resize', type=int, default=256)
    ap.add_argument('--threads', type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    start = time.time()
    blobs, train, val, classes = tar_split(args.data, args.split)
    transform = transforms.Compose([
        transforms.Resize(args.resize, interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.CenterCrop(args.image_size),
        transforms.ToTensor(),
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ])
    # Seeded samples of the training images: the batch-norm images and the probe's images do not overlap.
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(args.seed)).tolist()
    bn_items = [train[i] for i in order[:args.bn_images]]
    probe_items = [train[i] for i in order[args.bn_images:args.bn_images + args.probe_images]]
    torch.manual_seed(args.seed)
    model = efficientnet_b0()
    estimate_bn_statistics(model, loader(blobs, bn_items, transform, 64))
    x, y = pooled_features(model, loader(blobs, probe_items, transform, 64))
    w, b = fit_probe(x, y, len(classes), args.l2, args.steps)
    model.classifier[1] = nn.Linear(x.shape[1], len(classes))
    with torch.no_grad():
        model.classifier[1].weight.copy_(w)
        model.classifier[1].bias.copy_(b)
    train_top1 = ((x @ w.T + b).argmax(1) == y).float().mean().item()
    xv, yv = pooled_features(model, loader(blobs, val[:args.check_images], transform, 64))
    logits = xv @ w.T + b
    top2 = logits.topk(2, dim=1).values
    margin = (top2[:, 0] - top2[:, 1]).median().item()
    val_top1 = (logits.argmax(1) == yv).float().mean().item()
    torch.save(model.state_dict(), args.out)
    print(f'probe top-1: {train_top1 * 100:.2f}% on its {len(probe_items)} training images, {val_top1 * 100:.2f}% on '
          f'{len(xv)} hold-out images (median top-1/top-2 logit margin {margin:.3f}); wrote {args.out} in {time.time() - start:.0f} s', flush=True)


if __name__ == '__main__':
    main()
