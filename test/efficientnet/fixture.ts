/** Loads the torchvision profile fixture written by scripts/fixtures/efficientnet_macs.py. */
import { readFileSync } from 'node:fs';

/** One profiled torchvision model. */
export interface TorchvisionProfile {
  name?: string;
  width?: number;
  depth?: number;
  imageSize: [number, number];
  numClasses: number;
  params: number;
  macs: number;
  /** Sum of every Conv2d's output elements (Dollár et al.'s activations). */
  activations: number;
  stages: { name: string; params: number; macs: number; activations: number }[];
  stemChannels: number;
  headChannels: number;
  repeats: number[];
}

/** The fixture file's content. */
export interface TorchvisionFixture {
  torchvision: string;
  variants: TorchvisionProfile[];
  custom: TorchvisionProfile[];
}

/** Reads test/fixtures/efficientnet/torchvision-profile.json (regenerate with /usr/bin/python3 scripts/fixtures/efficientnet_macs.py). */
export function loadTorchvisionFixture(): TorchvisionFixture {
  const url = new URL('../../../test/fixtures/efficientnet/torchvision-profile.json', import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')) as TorchvisionFixture;
}
