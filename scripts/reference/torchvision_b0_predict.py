#!/usr/bin/python3
"""torchvision's own EfficientNet-B0 and its own eval transforms, as the reference of test/e2e/torchvision-b0.test.ts.

    /usr/bin/python3 scripts/reference/torchvision_b0_predict.py --weights OUT.pth --num-classes 3 IMAGE...

Builds torchvision.models.efficientnet_b0 (seeded, torchvision's initialisation, and a classifier centred and
scaled on the pooled features of the given images so that its predictions differ from image to image and are
confident: a random network alone gives every image the same class), saves its state dict to OUT.pth with
torch.save (what `effnet import --from torchvision` reads), and prints one JSON object on stdout:
{"transform": str, "logits": {image path: [logits]}}. Each image is opened with PIL, converted to RGB, and prepared
by torchvision's EfficientNet_B0_Weights.IMAGENET1K_V1.transforms() (resize 256 bicubic, center crop 224,
ImageNet mean/std): the preprocessing torchvision publishes for these weights. No weights are downloaded.
"""
import argparse
import json

import torch
import torchvision
from PIL import Image


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--weights', required=True)
    parser.add_argument('--num-classes', type=int, default=1000)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('images', nargs='+')
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    model = torchvision.models.efficientnet_b0(num_classes=args.num_classes)
    model.eval()
    transform = torchvision.models.EfficientNet_B0_Weights.IMAGENET1K_V1.transforms()
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
