#!/usr/bin/python3
"""PyTorch reference for the small-image recipe of `effnet train` (see docs/training.md): Fashion-MNIST or a tar.gz of
class folders (CIFAR-10) validated on the hold-out listed in a split.json written by effnet.

torchvision's EfficientNet building blocks (MBConvConfig / EfficientNet, torchvision 0.14) with the configuration
`effnet train --model custom --width W --depth D --image-size S [--strides ...]` builds: B0's stages with the
small-image strides of src/train/small-images.ts (the earliest stride-2 stages set to 1 until S / total stride >= 2:
at 32px and 40px 1, 1, 2, 2, 1, 2, 1 after the stride-2 stem, total stride 16) or the --strides given, --dropout,
--drop-path, one output per class; and the same recipe: SGD (momentum 0.9, Nesterov), lr --lr, cosine schedule per
step with a --warmup-epochs linear warm-up from 1e-6, --weight-decay on weights with more than one dimension (not BN,
not biases), --label-smoothing, EMA of weights with decay min(0.9999, (1 + n) / (10 + n)) (BN buffers copied, or
averaged with --ema-buffers average),
channels_last, last partial batch dropped. Transforms as effnet's small-image ones: RandomResizedCrop(S,
scale=--crop-scale, ratio=(3/4, 4/3), bicubic) + horizontal flip + ImageNet normalisation; evaluation resizes the
whole image to S (bicubic); grey images become RGB. Evaluated after every epoch (raw and EMA weights).
--config FILE builds the network of an effnet configuration file instead (`effnet train --config FILE`): its block
strings' stages with their strides, MBConv with or without squeeze-excitation and Fused-MBConv (torchvision's
FusedMBConvConfig), channels and depths scaled by the file's width and depth as effnet does; the parameter count
printed at the end equals effnet's.

Data:
- --data DIR (default Debian's Fashion-MNIST IDX folder): the 60,000 training images, validated on the 10,000 test
  images.
- --data PATH.tar.gz --split split.json: the archive read into memory (never unpacked); validation = exactly the items
  listed in split.json (written by `effnet train` into its run directory, or by `effnet train --data PATH.tar.gz
  --val-split F --write-split split.json`), training = every other image of the archive's class folders (their count
  is checked against the file's trainCount; the items the file lists as trainNames when it has them), labels in the
  file's class order.
--limit N keeps a seeded sample of N training and N validation images: smoke runs only.

Defaults are effnet's small-image defaults (dropout 0.2, stochastic depth 0.2, crop area 0.64-1) and the Fashion-MNIST
runs' recipe (width and depth 0.5, 32px, 5 epochs, batch 128, lr 0.1, warm-up 0.5 epochs, weight decay 1e-5). The
Fashion-MNIST run recorded in BENCHMARKS.md ("Training") matches `effnet train ... --dropout 0 --drop-path 0
--crop-scale 1,1`:
  /usr/bin/python3 bench/train/small_images_reference.py --epochs 5 --threads 1 --workers 2 --crop-scale 1,1 \
      --dropout 0 --drop-path 0 --init torchvision --out runs/fashion-mnist-torch
and run 2 (40px, last map 3x3) adds `--image-size 40 --out runs/fmnist-v2-torch` (those runs predate --init and used
torchvision's initialisation; the default is now effnet's). CIFAR-10 (docs/training.md):
  node dist/src/cli/main.js train --data ../shared/data/cifar10-train.tar.gz --val-split 0.1 --write-split runs/cifar-split.json
  /usr/bin/python3 bench/train/small_images_reference.py --data ../shared/data/cifar10-train.tar.gz \
      --split runs/cifar-split.json --epochs N --warmup-epochs 1 --weight-decay 5e-5 --dropout 0.1 --drop-path 0 \
      --threads 1 --workers 2 --out runs/cifar-torch
Writes OUT/metrics.csv (same columns as effnet's) and prints one JSON line per epoch and a JSON summary line.
"""
import argparse
import copy
import csv
import gzip
import io
import json
import math
import os
import tarfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms
import functools
import re

from torchvision.models.efficientnet import EfficientNet, FusedMBConvConfig, MBConv, MBConvConfig

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
B0_STRIDES = (1, 2, 2, 2, 1, 2, 1)
SMALL_IMAGE_MAX_SIZE = 64  # src/train/small-images.ts
SMALL_IMAGE_MIN_FEATURE = 2
B0 = [(1, 3, 32, 16, 1), (6, 3, 16, 24, 2), (6, 5, 24, 40, 2), (6, 3, 40, 80, 3), (6, 5, 80, 112, 3), (6, 5, 112, 192, 4), (6, 3, 192, 320, 1)]
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.webp')  # src/data/encoded-dataset.ts
TAR_SUFFIXES = ('.tar', '.tar.gz', '.tgz')


def read_idx(path):
    with gzip.open(path, 'rb') as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


class IdxDataset(torch.utils.data.Dataset):
    """Fashion-MNIST's IDX files ('train' or the 't10k' test split), grey images returned as RGB."""

    def __init__(self, root, split, transform):
        prefix = 'train' if split == 'train' else 't10k'
        self.images = read_idx(os.path.join(root, f'{prefix}-images-idx3-ubyte.gz'))
        self.labels = read_idx(os.path.join(root, f'{prefix}-labels-idx1-ubyte.gz')).astype(np.int64)
        self.indices = np.arange(len(self.labels))
        self.transform = transform

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        j = self.indices[i]
        return self.transform(Image.fromarray(self.images[j], 'L').convert('RGB')), int(self.labels[j])


class TarItems(torch.utils.data.Dataset):
    """(member name, label) items whose encoded bytes are in `blobs` (the archive read into memory)."""

    def __init__(self, blobs, items, transform):
        self.blobs = blobs
        self.items = items
        self.transform = transform

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        name, label = self.items[i]
        with Image.open(io.BytesIO(self.blobs[name])) as image:
            return self.transform(image.convert('RGB')), label


def read_tar_images(path):
    """Every image member of the archive (by extension, as effnet's tar reader), name -> bytes."""
    blobs = {}
    with tarfile.open(path, 'r:*') as tar:
        for member in tar:
            if member.isfile() and member.name.lower().endswith(IMAGE_EXTENSIONS):
                blobs[member.name] = tar.extractfile(member).read()
    return blobs


def tar_split(path, split_path):
    """Training and validation (name, label) items of the archive at `path` as the split file lists them."""
    with open(split_path) as f:
        split = json.load(f)
    if os.path.basename(path) not in split['data']:
        print(f'warning: {split_path} was written for --data {split["data"]}, not {path}', flush=True)
    blobs = read_tar_images(path)
    classes, root = split['classes'], split['root']
    index = {name: label for label, name in enumerate(classes)}
    labelled = {}
    for name in blobs:
        rel = name[len(root):] if name.startswith(root) else None
        if rel is not None and '/' in rel and rel.split('/')[0] in index:
            labelled[name] = index[rel.split('/')[0]]
    missing = [n for n in split['valNames'] if n not in labelled]
    if missing:
        raise SystemExit(f'{split_path}: {len(missing)} validation items are not images of {path} (first: {missing[0]}); write the split file for this archive')
    if [labelled[n] for n in split['valNames']] != split['valLabels']:
        raise SystemExit(f'{split_path}: the labels of the validation items differ from their class folders in {path}')
    val_set = set(split['valNames'])
    val = [(n, labelled[n]) for n in split['valNames']]
    if 'trainNames' in split:  # a subset of the training images (effnet's train=N)
        missing = [n for n in split['trainNames'] if n not in labelled or n in val_set]
        if missing:
            raise SystemExit(f'{split_path}: training item {missing[0]} is not an image of {path} outside the validation items')
        train = [(n, labelled[n]) for n in split['trainNames']]
    else:
        train = sorted((n, label) for n, label in labelled.items() if n not in val_set)
    if len(train) != split['trainCount']:
        raise SystemExit(f'{split_path}: {len(train)} training images in {path}, the split file says {split["trainCount"]}; write the split file for this archive')
    return blobs, train, val, classes


def small_image_strides(size, strides=None):
    """effnet's smallImageStages: the earliest stride-2 stages become stride 1 until size / total stride >= 2."""
    strides = list(B0_STRIDES if strides is None else strides)
    if size > SMALL_IMAGE_MAX_SIZE:
        return strides
    for i, s in enumerate(strides):
        if size / (2 * math.prod(strides)) >= SMALL_IMAGE_MIN_FEATURE:
            break
        if s > 1:
            strides[i] = 1
    return strides


def parse_strides(text):
    strides = [s.strip() for s in text.split(',')]
    if len(strides) != len(B0) or any(s not in ('1', '2') for s in strides):
        raise SystemExit(f'--strides takes {len(B0)} comma-separated strides, each 1 or 2 (e.g. 1,1,1,2,1,2,1), got {text!r}')
    return [int(s) for s in strides]


BLOCK_STRING = re.compile(r'^r(\d+)_k(\d+)_s(\d)\3_e(\d+)_i(\d+)_o(\d+)((?:_se0\.25)?)((?:_f1)?)$')


def parse_block_strings(stages):
    """effnet's TF block strings (a configuration file's "stages") as (e, k, i, o, n, stride, se, fused) per stage: the
    forms torchvision's blocks build (SE ratio 0.25 of the block input or none; fused blocks with expansion > 1)."""
    parsed = []
    for text in stages:
        m = BLOCK_STRING.match(text)
        if m is None:
            raise SystemExit(f'block string {text!r}: this reference builds rN_kK_sSS_eE_iI_oO with optional _se0.25 and _f1 only')
        n, k, s, e, i, o = (int(m.group(g)) for g in (1, 2, 3, 4, 5, 6))
        fused = m.group(8) != ''
        if fused and e == 1:
            raise SystemExit(f'block string {text!r}: fused blocks without expansion are not built by this reference')
        if fused and m.group(7) != '':
            raise SystemExit(f'block string {text!r}: torchvision\'s FusedMBConv has no squeeze-excitation')
        parsed.append((e, k, i, o, n, s, m.group(7) != '', fused))
    return parsed


def no_se(*_args, **_kwargs):
    return nn.Identity()


def stage_configs(width, depth, strides, blocks=None):
    """torchvision block configurations of B0's stages, or of a configuration file's block strings, at the given strides
    (channels rounded to multiples of 8 and depths rounded up as effnet and torchvision both do)."""
    if blocks is None:
        return [MBConvConfig(e, k, s, i, o, n, width_mult=width, depth_mult=depth) for (e, k, i, o, n), s in zip(B0, strides)]
    configs = []
    for (e, k, i, o, n, _, se, fused), s in zip(blocks, strides):
        if fused:
            configs.append(FusedMBConvConfig(e, k, s, MBConvConfig.adjust_channels(i, width), MBConvConfig.adjust_channels(o, width),
                                             MBConvConfig.adjust_depth(n, depth)))
        else:
            block = None if se else functools.partial(MBConv, se_layer=no_se)
            configs.append(MBConvConfig(e, k, s, i, o, n, width_mult=width, depth_mult=depth, block=block))
    return configs


def build_model(width, depth, dropout, drop_path, classes, strides, init='effnet', blocks=None):
    setting = stage_configs(width, depth, strides, blocks)
    # The head as effnet (and TF, timm) builds it: 1280 channels scaled by the width and rounded to a multiple of 8.
    # torchvision's default is 4x the last stage's channels, the same number at B0-B7's widths but not at others
    # (width 0.4125: 512 against effnet's 528).
    model = EfficientNet(setting, dropout=dropout, stochastic_depth_prob=drop_path, num_classes=classes,
                         last_channel=MBConvConfig.adjust_channels(1280, width))
    if init == 'effnet':
        # effnet's (TF's and timm's) convolution init: N(0, sqrt(2 / fan_out)) with fan_out = k*k*out / groups;
        # torchvision's kaiming_normal_(mode='fan_out') omits the division by groups, which makes depthwise kernels
        # sqrt(channels) times smaller. Everything else (BN 1/0, classifier U(+-1/sqrt(classes)), biases 0) is the same.
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
    return model


def lr_at(step, lr, steps_per_epoch, epochs, warmup_epochs, warmup_lr=1e-6):
    t = step / steps_per_epoch
    if t < warmup_epochs:
        return warmup_lr + t * (lr - warmup_lr) / warmup_epochs
    progress = (t - warmup_epochs) / (epochs - warmup_epochs)
    return lr * (1 + math.cos(math.pi * progress)) / 2


class Ema:
    def __init__(self, model, decay, buffers='copy'):
        self.model = copy.deepcopy(model).eval()
        self.decay = decay
        self.buffers = buffers
        self.updates = 0
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model):
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        params = dict(model.named_parameters())
        source = model.state_dict()
        for name, value in self.model.state_dict().items():
            if name in params:
                value.mul_(d).add_(params[name].detach(), alpha=1 - d)
            elif self.buffers == 'average' and value.is_floating_point():
                value.mul_(d).add_(source[name], alpha=1 - d)
            else:
                value.copy_(source[name])
        self.updates += 1


@torch.no_grad()
def evaluate(model, loader, device, tta=None):
    """Validation metrics; tta='hflip' averages the logits of each image and its mirror image (effnet's card field)."""
    model.eval()
    loss = top1 = top5 = n = 0
    for x, y in loader:
        x = x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        y = y.to(device, non_blocking=True)
        logits = model(x) if tta is None else (model(x) + model(x.flip(3))) * 0.5
        loss += F.cross_entropy(logits, y, reduction='sum').item()
        top = logits.topk(min(5, logits.shape[1]), dim=1).indices
        top1 += (top[:, 0] == y).sum().item()
        top5 += (top == y[:, None]).any(dim=1).sum().item()
        n += len(y)
    return loss / n, top1 / n, top5 / n


def crop_scale(text):
    lo, hi = (float(v) for v in text.split(','))
    if not 0 < lo <= hi <= 1:
        raise SystemExit(f'--crop-scale takes LO,HI with 0 < LO <= HI <= 1, got {text!r}')
    return lo, hi


def parse_progressive(text):
    values = {}
    for part in text.split(','):
        key, _, raw = part.partition('=')
        if key not in ('stages', 'size', 'dropout', 'drop-path'):
            raise SystemExit(f"--progressive: unknown key '{key}' (stages, size, dropout, drop-path)")
        values[key] = float(raw)
    if 'stages' not in values or 'size' not in values:
        raise SystemExit('--progressive needs stages=S,size=PX')
    return values


def stage_of_epoch(epoch, epochs, stages):
    # effnet's src/train/progressive.ts: floor(epoch * S / epochs), at most S - 1.
    return min(stages - 1, (epoch * stages) // epochs)


def stage_value(start, final, stage, stages):
    return final if stages == 1 else start + (final - start) * stage / (stages - 1)


def set_regularization(model, dropout, drop_path):
    # torchvision's EfficientNet: classifier[0] is the Dropout; each block's StochasticDepth has p = max * index / blocks.
    if dropout is not None:
        model.classifier[0].p = dropout
    if drop_path is not None:
        depths = [m for m in model.modules() if m.__class__.__name__ == 'StochasticDepth']
        blocks = len(depths)
        for index, m in enumerate(depths):
            m.p = drop_path * index / blocks


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--data', default='/usr/share/datasets/fashion-mnist', help='Fashion-MNIST IDX folder, or a .tar.gz of class folders (with --split)')
    ap.add_argument('--split', help='split.json of effnet train (required with a tar archive)')
    ap.add_argument('--width', type=float, default=0.5)
    ap.add_argument('--depth', type=float, default=0.5)
    ap.add_argument('--image-size', type=int, default=None, help="training size (default: --config's resolution, else 32)")
    ap.add_argument('--strides', help='7 stage strides after the stride-2 stem (default: the small-image rule)')
    ap.add_argument('--config', help="an effnet configuration file (effnet train --config): its stages' block strings (SE or none, "
                    'fused or not) with their strides, width, depth and resolution; --image-size, --dropout and --drop-path override them')
    ap.add_argument('--epochs', type=int, default=5)
    ap.add_argument('--batch-size', type=int, default=128)
    ap.add_argument('--optimizer', choices=['sgd'], default='sgd', help='SGD with Nesterov momentum 0.9 (the only one here)')
    ap.add_argument('--lr', type=float, default=0.1)
    ap.add_argument('--schedule', choices=['cosine'], default='cosine', help='cosine per step after the warm-up (the only one here)')
    ap.add_argument('--warmup-epochs', type=float, default=0.5)
    ap.add_argument('--weight-decay', type=float, default=1e-5)
    ap.add_argument('--label-smoothing', type=float, default=0.1)
    ap.add_argument('--dropout', type=float, default=0.2)
    ap.add_argument('--drop-path', type=float, default=0.2)
    ap.add_argument('--crop-scale', type=crop_scale, default=(0.64, 1.0))
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--workers', type=int, default=2)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--init', choices=['effnet', 'torchvision'], default='effnet',
                    help="convolution init: effnet's (TF/timm: fan_out divided by groups, the default) or torchvision's")
    ap.add_argument('--limit', type=int, help='a seeded sample of at most N training and N validation images: smoke runs')
    ap.add_argument('--ema-buffers', choices=['copy', 'average'], default='copy',
                    help="BN running statistics of the EMA: copied (default) or averaged (effnet train --ema-buffers)")
    ap.add_argument('--device', default='cpu', help="torch device of the model and batches ('cpu', 'cuda'): "
                    "a GPU only makes the reference faster, the recipe and its results are the same up to numerics")
    ap.add_argument('--progressive', help="progressive learning as effnet train's --progressive: stages=S,size=PX[,dropout=P][,drop-path=P] "
                    '(start values; S equal stages, linear in the stage index to --image-size, --dropout, --drop-path)')
    ap.add_argument('--tta', choices=['hflip'], default=None, help='test-time augmentation of validation (as effnet train --tta)')
    ap.add_argument('--eval-every', type=int, default=1, help='validate every N epochs and after the last (as effnet train)')
    ap.add_argument('--out', default='runs/fashion-mnist-torch')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    blocks = None
    config = None
    if args.config:
        with open(args.config) as f:
            config = json.load(f)
        args.width, args.depth = config['width'], config['depth']
        blocks = parse_block_strings(config['stages']) if 'stages' in config else None
    # As effnet train --config: the file's resolution unless --image-size says otherwise.
    size = args.image_size if args.image_size is not None else (config.get('resolution', 32) if config else 32)
    strides = parse_strides(args.strides) if args.strides else small_image_strides(size, None if blocks is None else [b[5] for b in blocks])

    def train_tf_at(side):
        return transforms.Compose([
            transforms.RandomResizedCrop(side, scale=args.crop_scale, ratio=(3 / 4, 4 / 3), interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.RandomHorizontalFlip(), transforms.ToTensor(), transforms.Normalize(MEAN, STD)])

    train_tf = train_tf_at(size)
    progressive = parse_progressive(args.progressive) if args.progressive else None
    stages = int(progressive['stages']) if progressive else 1

    def stage_settings(epoch):
        if progressive is None:
            return size, None, None
        stage = stage_of_epoch(epoch, args.epochs, stages)
        side = int(math.floor(stage_value(progressive['size'], size, stage, stages) + 0.5))  # JavaScript's Math.round
        dropout = stage_value(progressive['dropout'], args.dropout, stage, stages) if 'dropout' in progressive else None
        drop_path = stage_value(progressive['drop-path'], args.drop_path, stage, stages) if 'drop-path' in progressive else None
        return side, dropout, drop_path
    eval_tf = transforms.Compose([
        transforms.Resize(size, interpolation=transforms.InterpolationMode.BICUBIC), transforms.CenterCrop(size),
        transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    if args.data.lower().endswith(TAR_SUFFIXES):
        if args.split is None:
            raise SystemExit(f'--data {args.data} is an archive: pass --split split.json (effnet train --data {args.data} --val-split 0.1 --write-split split.json)')
        blobs, train_items, val_items, classes = tar_split(args.data, args.split)
        if args.limit is not None:
            keep = torch.randperm(len(train_items), generator=torch.Generator().manual_seed(args.seed))[:args.limit].sort().values
            train_items = [train_items[i] for i in keep.tolist()]
            keep = torch.randperm(len(val_items), generator=torch.Generator().manual_seed(args.seed + 1))[:args.limit].sort().values
            val_items = [val_items[i] for i in keep.tolist()]
        train_set, val_set = TarItems(blobs, train_items, train_tf), TarItems(blobs, val_items, eval_tf)
        num_classes = len(classes)
        validation = f'{len(val_items)} images listed in {args.split}'
    else:
        if args.split is not None:
            raise SystemExit('--split applies to a tar archive; Fashion-MNIST is validated on its own test split')
        train_set, val_set = IdxDataset(args.data, 'train', train_tf), IdxDataset(args.data, 'test', eval_tf)
        if args.limit is not None:
            train_set.indices = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(args.seed))[:args.limit].sort().values.numpy()
            val_set.indices = torch.randperm(len(val_set), generator=torch.Generator().manual_seed(args.seed + 1))[:args.limit].sort().values.numpy()
        num_classes = 10
        validation = f'Fashion-MNIST test split ({len(val_set)} images)'
    print(json.dumps({'train': len(train_set), 'validation': validation, 'classes': num_classes, 'strides': strides}), flush=True)
    device = torch.device(args.device)
    pin = device.type == 'cuda'
    def train_loader():
        # Rebuilt when the stage changes: persistent workers would keep the previous stage's transform.
        return torch.utils.data.DataLoader(train_set, batch_size=args.batch_size, shuffle=True, drop_last=len(train_set) > args.batch_size,
                                           num_workers=args.workers, persistent_workers=args.workers > 0 and progressive is None, pin_memory=pin)

    train = train_loader()
    test = torch.utils.data.DataLoader(val_set, batch_size=args.batch_size, num_workers=args.workers, pin_memory=pin)
    model = build_model(args.width, args.depth, args.dropout, args.drop_path, num_classes, strides, args.init, blocks)
    model = model.to(device=device, memory_format=torch.channels_last)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1 and not n.endswith('.bias')]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim > 1 and not n.endswith('.bias'))]
    opt = torch.optim.SGD([{'params': no_decay, 'weight_decay': 0.0}, {'params': decay, 'weight_decay': args.weight_decay}],
                          lr=args.lr, momentum=0.9, nesterov=True)
    ema = Ema(model, 0.9999, args.ema_buffers)
    steps_per_epoch = len(train)
    step = 0
    rows = []
    started = time.time()
    current_size = size
    for epoch in range(args.epochs):
        side, dropout, drop_path = stage_settings(epoch)
        if side != current_size or (progressive is not None and epoch == 0):
            train_set.transform = train_tf_at(side)
            train = train_loader()
            current_size = side
        set_regularization(model, dropout, drop_path)
        model.train()
        t0 = time.time()
        loss_sum = correct = seen = batches = 0
        for x, y in train:
            x = x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            y = y.to(device, non_blocking=True)
            for g in opt.param_groups:
                g['lr'] = lr_at(step, args.lr, steps_per_epoch, args.epochs, args.warmup_epochs)
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=args.label_smoothing)
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
        validates = (epoch + 1) % args.eval_every == 0 or epoch + 1 == args.epochs
        val_loss, val_top1, val_top5 = evaluate(model, test, device, args.tta) if validates else (None, None, None)
        ema_loss, ema_top1, ema_top5 = evaluate(ema.model, test, device, args.tta) if validates else (None, None, None)
        row = dict(epoch=epoch + 1, step=step, lr=lr_at(step - 1, args.lr, steps_per_epoch, args.epochs, args.warmup_epochs),
                   trainLoss=loss_sum / batches, trainTop1=correct / seen, valLoss=val_loss, valTop1=val_top1, valTop5=val_top5,
                   emaLoss=ema_loss, emaTop1=ema_top1, emaTop5=ema_top5, imagesPerSecond=seen / seconds, skipped=0, imageSize=current_size)
        rows.append(row)
        print(json.dumps(row), flush=True)
        with open(os.path.join(args.out, 'metrics.csv'), 'w', newline='') as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
            writer.writeheader()
            writer.writerows(rows)
    last = rows[-1]
    print(json.dumps({'reference': 'torchvision', 'epochs': args.epochs, 'valTop1': last['valTop1'], 'emaTop1': last['emaTop1'],
                      'bestValTop1': max(r['valTop1'] for r in rows if r['valTop1'] is not None),
                      'bestEmaTop1': max(r['emaTop1'] for r in rows if r['emaTop1'] is not None),
                      'wallSeconds': time.time() - started, 'parameters': sum(p.numel() for p in model.parameters())}))


if __name__ == '__main__':
    main()
