#!/usr/bin/python3
"""torchvision's own EfficientNets and their own eval transforms, as the reference of test/e2e/torchvision-b0.test.ts.

    /usr/bin/python3 scripts/reference/torchvision_predict.py [--variant b0|...|b7|v2-s|v2-m|v2-l] --weights OUT.pth --num-classes 3 IMAGE...
    /usr/bin/python3 scripts/reference/torchvision_predict.py --published
        prints {variant: {"url", "crop", "resize", "interpolation", "mean", "std"}} of torchvision's DEFAULT weights,
        b0..b7 and v2-s, v2-m, v2-l

Builds torchvision.models.efficientnet_<variant> (seeded, torchvision's initialisation, and a classifier centred and
scaled on the pooled features of the given images so that its predictions differ from image to image and are
confident: a random network alone gives every image the same class), saves its state dict to OUT.pth with
torch.save (what `effnet import --from torchvision` reads), and prints one JSON object on stdout:
{"transform": str, "logits": {image path: [logits]}}. Each image is opened with PIL, converted to RGB, and prepared
by torchvision's EfficientNet_B<n>_Weights.DEFAULT.transforms() (b0: resize 256 bicubic, center crop 224; b1:
resize 255 bilinear, crop 240; ImageNet mean/std; V2-S: resize 384 bilinear, crop 384): the preprocessing torchvision
publishes for these weights. No weights are downloaded.
"""
import argparse
import json

import torch
import torchvision
from PIL import Image


def weights_enum(variant):
    """torchvision's weights enum of an effnet variant name: 'b3' -> EfficientNet_B3_Weights, 'v2-s' -> EfficientNet_V2_S_Weights."""
    suffix = variant.upper().replace('-', '_')
    return getattr(torchvision.models, f'EfficientNet_{suffix}_Weights')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--variant', default='b0')
    parser.add_argument('--published', action='store_true')
    parser.add_argument('--weights')
    parser.add_argument('--num-classes', type=int, default=1000)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('images', nargs='*')
    args = parser.parse_args()
    if args.published:
        published = {}
        for variant in [f'b{n}' for n in range(8)] + ['v2-s', 'v2-m', 'v2-l']:
            weights = weights_enum(variant).DEFAULT
            t = weights.transforms()
            published[variant] = {'url': weights.url, 'crop': t.crop_size[0], 'resize': t.resize_size[0], 'interpolation': t.interpolation.value,
                                  'mean': list(t.mean), 'std': list(t.std)}
        print(json.dumps(published))
        return
    torch.manual_seed(args.seed)
    model = getattr(torchvision.models, 'efficientnet_' + args.variant.replace('-', '_'))(num_classes=args.num_classes)
    model.eval()
    transform = weights_enum(args.variant).DEFAULT.transforms()
    inputs = [transform(Image.open(path).convert('RGB')).unsqueeze(0) for path in args.images]
    with torch.no_grad():
        features = torch.cat([torch.flatten(model.avgpool(model.features(x)), 1) for x in inputs])
        fc = model.classifier[1]
        centred = (features - features.mean(0)) @ fc.weight.t()
        fc.weight.mul_(3.0 / centred.std().clamp_min(1e-12))
        fc.bias.copy_(-(features.mean(0) @ fc.weight.t()))
        logits = {path: model(x)[0].tolist() for path, x in zip(args.images, inputs)}
    torch.save(model.state_dict(), args.weights)
    print(json.dumps({'transform': repr(transform), 'logits': logits}))


if __name__ == '__main__':
    main()
