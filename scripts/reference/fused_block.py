#!/usr/bin/python3
"""The fused MBConv's reference: torchvision's own EfficientNet built with FusedMBConvConfig stages (EfficientNetV2's
path in torchvision 0.14), so effnet's fused block is checked against code it does not share.

    /usr/bin/python3 scripts/reference/fused_block.py SPEC.json OUT.safetensors

SPEC.json: {"stages": [{"fused", "expand", "kernel", "stride", "in", "out", "repeats", "se"}...], "head": 1280,
"classes": 5, "size": 64, "seed": 0}. Stages are the unscaled ones (width and depth 1). MBConv stages must have
se 0.25 (torchvision's MBConvConfig always squeezes to in // 4). torchvision's FusedMBConv has no squeeze-excite;
a fused stage with se > 0 gets torchvision's SqueezeExcitation(mid, max(1, floor(in · se)), SiLU) inserted after
its kxk convolution (`block.1`), which is where effnet puts it.

OUT.safetensors (the documented format, written below without the safetensors package, which Debian's python lacks):
the initial state dict (random BN affine parameters and running statistics), `input.x` [2, 3, S, S], `input.y`,
`output.eval` (eval logits), `output.train` (training-mode logits, dropout and stochastic depth 0), `grad.<name>` for
every parameter after backward of the mean cross entropy on `input.y`, `grad.input` (the input's gradient) and
`after.<name>` (every BN running statistic after that training-mode forward). Metadata: `params` (the model's
parameter count) and `macs` (batch-1 multiply-adds of every Conv2d and Linear, counted by forward hooks).
"""
import json
import math
import struct
import sys

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.efficientnet import EfficientNet, FusedMBConvConfig, MBConvConfig
from torchvision.ops import SqueezeExcitation

ST_DTYPES = {torch.float32: 'F32', torch.float64: 'F64', torch.int64: 'I64'}


def write_safetensors(path, tensors, metadata):
    header = {'__metadata__': metadata}
    offset = 0
    blobs = []
    for name, value in tensors.items():
        blob = value.detach().contiguous().cpu().numpy().tobytes()
        header[name] = {'dtype': ST_DTYPES[value.dtype], 'shape': list(value.shape), 'data_offsets': [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header).encode('utf-8')
    text += b' ' * ((8 - len(text) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def build(spec):
    setting = []
    for stage in spec['stages']:
        if stage['fused']:
            setting.append(FusedMBConvConfig(stage['expand'], stage['kernel'], stage['stride'], stage['in'], stage['out'], stage['repeats']))
        else:
            assert stage['se'] == 0.25, 'torchvision MBConv stages squeeze to in // 4 (se 0.25)'
            setting.append(MBConvConfig(stage['expand'], stage['kernel'], stage['stride'], stage['in'], stage['out'], stage['repeats']))
    model = EfficientNet(setting, dropout=0.0, stochastic_depth_prob=0.0, num_classes=spec['classes'], last_channel=spec['head'])
    for index, stage in enumerate(spec['stages']):
        if not (stage['fused'] and stage['se'] > 0):
            continue
        for j, block in enumerate(model.features[index + 1]):
            block_in = stage['in'] if j == 0 else stage['out']
            layers = list(block.block.children())
            conv_out = layers[0][0].out_channels
            se = SqueezeExcitation(conv_out, max(1, math.floor(block_in * stage['se'])), activation=nn.SiLU)
            block.block = nn.Sequential(layers[0], se, *layers[1:])
    return model


def randomise(model, generator):
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                module.weight.normal_(0, math.sqrt(2 / (module.kernel_size[0] * module.kernel_size[1] * module.out_channels / module.groups)), generator=generator)
                if module.bias is not None:
                    module.bias.normal_(0, 0.1, generator=generator)
            if isinstance(module, nn.BatchNorm2d):
                c = module.num_features
                module.weight.copy_(torch.rand(c, generator=generator) * 0.6 + 0.7)
                module.bias.copy_(torch.randn(c, generator=generator) * 0.1)
                module.running_mean.copy_(torch.randn(c, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(c, generator=generator) * 0.4 + 0.8)
                module.num_batches_tracked.fill_(3)


def count_macs(model, size):
    total = [0]
    handles = []

    def conv_hook(module, inputs, output):
        kh, kw = module.kernel_size
        total[0] += output.numel() * (module.in_channels // module.groups) * kh * kw

    def linear_hook(module, inputs, output):
        total[0] += module.in_features * module.out_features

    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    for handle in handles:
        handle.remove()
    return total[0]


def main():
    spec = json.load(open(sys.argv[1]))
    generator = torch.Generator().manual_seed(spec.get('seed', 0))
    torch.manual_seed(spec.get('seed', 0))
    model = build(spec)
    randomise(model, generator)
    tensors = {name: value.clone() for name, value in model.state_dict().items()}
    size = spec['size']
    x = torch.randn(2, 3, size, size, generator=generator)
    y = torch.randint(0, spec['classes'], (2,), generator=generator)
    tensors['input.x'] = x
    tensors['input.y'] = y
    macs = count_macs(model, size)
    model.eval()
    with torch.no_grad():
        tensors['output.eval'] = model(x)
    model.train()
    xg = x.clone().requires_grad_(True)
    logits = model(xg)
    F.cross_entropy(logits, y).backward()
    tensors['output.train'] = logits.detach()
    tensors['grad.input'] = xg.grad
    for name, param in model.named_parameters():
        tensors['grad.' + name] = param.grad
    for name, buffer in model.named_buffers():
        if buffer.dtype == torch.float32:
            tensors['after.' + name] = buffer.clone()
    params = sum(p.numel() for p in model.parameters())
    write_safetensors(sys.argv[2], tensors, {'params': str(params), 'macs': str(macs), 'torch': torch.__version__})


if __name__ == '__main__':
    main()
