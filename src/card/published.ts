/**
 * The eval transforms that weight publishers ship with their EfficientNet weights, for the cards of imported
 * models. torchvision evaluates each of its checkpoints with its own `weights.transforms()` (crop size, resize size,
 * interpolation), which is not the crop_pct rule for b1–b7: b2 is evaluated at 288px although it was scaled for 260,
 * b1's current weights with a bilinear resize to 255. timm's pretrained configurations follow the rule (crop_pct =
 * size / (size + 32), bicubic), so timm imports take the resolver's default.
 */
import type { EvalOverrides } from './resolve.js';

/** torchvision's `transforms()` of one checkpoint: center crop, short-side resize, interpolation. */
export interface PublishedTransform {
  /** Center-crop side (the input size). */
  crop: number;
  /** Short-side resize before the crop. */
  resize: number;
  /** Resize filter. */
  interpolation: 'bicubic' | 'bilinear';
  /** Normalisation mean and std when not ImageNet's (V2-L's weights, ported from TF, use 0.5 for both). */
  normalize?: { mean: readonly [number, number, number]; std: readonly [number, number, number] };
}

/**
 * torchvision's transforms for the checkpoints effnet downloads (src/io/download.ts; the DEFAULT weights of
 * torchvision 0.14: IMAGENET1K_V2 for b1, IMAGENET1K_V1 for the others; V2's differ from V1's: bilinear for S and
 * M, no resize margin, mean/std 0.5 for L). test/e2e/torchvision-b0.test.ts compares
 * this table with torchvision's own.
 */
export const TORCHVISION_TRANSFORMS: Readonly<Record<string, PublishedTransform>> = Object.freeze({
  b0: { crop: 224, resize: 256, interpolation: 'bicubic' },
  b1: { crop: 240, resize: 255, interpolation: 'bilinear' },
  b2: { crop: 288, resize: 288, interpolation: 'bicubic' },
  b3: { crop: 300, resize: 320, interpolation: 'bicubic' },
  b4: { crop: 380, resize: 384, interpolation: 'bicubic' },
  b5: { crop: 456, resize: 456, interpolation: 'bicubic' },
  b6: { crop: 528, resize: 528, interpolation: 'bicubic' },
  b7: { crop: 600, resize: 600, interpolation: 'bicubic' },
  'v2-s': { crop: 384, resize: 384, interpolation: 'bilinear' },
  'v2-m': { crop: 480, resize: 480, interpolation: 'bilinear' },
  'v2-l': { crop: 480, resize: 480, interpolation: 'bicubic', normalize: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] } },
});

/** torchvision's b1 IMAGENET1K_V1 checkpoint (file name as torchvision publishes it) was evaluated as the others. */
const TORCHVISION_B1_V1 = { file: /efficientnet_b1_rwightman-533bc792/, transform: { crop: 240, resize: 256, interpolation: 'bicubic' } as PublishedTransform };

/**
 * The eval transform of a torchvision checkpoint of `variant` ('b0'..'b7', 'v2-s', 'v2-m', 'v2-l'; the file name
 * tells b1's two versions apart), as card eval fields (size, cropPct, interpolation, and mean/std where they are
 * not ImageNet's), or null for other variants.
 */
export function torchvisionEval(variant: string, file = ''): (EvalOverrides & { size: number }) | null {
  const published = variant === 'b1' && TORCHVISION_B1_V1.file.test(file) ? TORCHVISION_B1_V1.transform : TORCHVISION_TRANSFORMS[variant];
  if (published === undefined) return null;
  const normalize = published.normalize === undefined ? {} : { mean: published.normalize.mean, std: published.normalize.std };
  return { size: published.crop, cropPct: published.crop / published.resize, interpolation: published.interpolation, ...normalize };
}
