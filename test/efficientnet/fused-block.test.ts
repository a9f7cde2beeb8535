/**
 * The fused MBConv against torchvision's own EfficientNet built with FusedMBConvConfig stages
 * (scripts/reference/fused_block.py, run into a temporary directory): a network with fused stages of expansion 1
 * and 4, a fused stage with squeeze-excite, and MBConv stages. Checked: the state dict loads key for key; eval and
 * training-mode logits, the input's and every parameter's gradient and the BN running statistics after a training
 * forward agree with PyTorch's; the profiler's parameters and MACs equal the forward-hook count; the exported ONNX
 * file gives the same logits in onnxruntime-node.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import {
  FusedMBConv,
  MBConv,
  createEfficientNet,
  customConfig,
  decodeArchitecture,
  profileNetwork,
} from '../../src/efficientnet/index.js';
import { exportEfficientNet } from '../../src/export/index.js';
import { loadSafetensors } from '../../src/io/safetensors.js';
import { crossEntropy, noGrad, tidy, type Tensor } from '../../src/torch/index.js';

const SCRIPT = fileURLToPath(new URL('../../../scripts/reference/fused_block.py', import.meta.url));

const BLOCK_STRINGS = [
  'r2_k3_s11_e1_i32_o16_f1',
  'r2_k3_s22_e4_i16_o24_f1',
  'r2_k5_s22_e3_i24_o40_se0.25_f1',
  'r2_k3_s22_e6_i40_o80_se0.25',
  'r1_k5_s22_e6_i80_o112_se0.25',
];

/** The same stages written out by hand for the reference (not derived from effnet's decoder). */
const REFERENCE_STAGES = [
  { fused: true, expand: 1, kernel: 3, stride: 1, in: 32, out: 16, repeats: 2, se: 0 },
  { fused: true, expand: 4, kernel: 3, stride: 2, in: 16, out: 24, repeats: 2, se: 0 },
  { fused: true, expand: 3, kernel: 5, stride: 2, in: 24, out: 40, repeats: 2, se: 0.25 },
  { fused: false, expand: 6, kernel: 3, stride: 2, in: 40, out: 80, repeats: 2, se: 0.25 },
  { fused: false, expand: 6, kernel: 5, stride: 2, in: 80, out: 112, repeats: 1, se: 0.25 },
];

/** Largest |a − b| relative to the largest |b| (plus a floor for all-zero references). */
function relativeDiff(a: Tensor, b: Tensor): number {
  assert.deepEqual(a.shape, b.shape, 'shapes differ');
  const x = a.toFloat32Array();
  const y = b.toFloat32Array();
  let worst = 0;
  let scale = 1e-6;
  for (let i = 0; i < x.length; i++) {
    worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
    scale = Math.max(scale, Math.abs(y[i]!));
  }
  return worst / scale;
}

function torchvisionUnavailable(): string | null {
  const probe = spawnSync('/usr/bin/python3', ['-c', 'from torchvision.models.efficientnet import FusedMBConvConfig'], { encoding: 'utf8' });
  if (probe.error !== undefined) return `/usr/bin/python3 cannot be run (${probe.error.message})`;
  if (probe.status !== 0) return `/usr/bin/python3 has no torchvision with FusedMBConvConfig: ${probe.stderr.trim().split('\n').pop()}`;
  return null;
}

test('fused MBConv: forward, backward, parameters, MACs and ONNX match torchvision (FusedMBConvConfig)', async (t) => {
  const reason = torchvisionUnavailable();
  if (reason !== null) {
    t.skip(reason);
    return;
  }
  const directory = mkdtempSync(join(tmpdir(), 'effnet-fused-'));
  const size = 64;
  const classes = 5;
  try {
    writeFileSync(join(directory, 'spec.json'), JSON.stringify({ stages: REFERENCE_STAGES, head: 1280, classes, size, seed: 3 }));
    const run = spawnSync('/usr/bin/python3', [SCRIPT, join(directory, 'spec.json'), join(directory, 'ref.safetensors')], { encoding: 'utf8' });
    assert.equal(run.status, 0, `the reference script failed: ${run.stderr}`);
    const { tensors, metadata } = loadSafetensors(join(directory, 'ref.safetensors'));
    const stages = decodeArchitecture(BLOCK_STRINGS);
    const model = createEfficientNet(customConfig({ width: 1, depth: 1, resolution: size }), { numClasses: classes, dropout: 0, stochasticDepth: 0, stages });
    try {
      // Both block kinds are present, so the test exercises both.
      const kinds = [...model.namedModules()].map(([, m]) => m);
      assert.equal(kinds.filter((m) => m instanceof FusedMBConv).length, 6);
      assert.equal(kinds.filter((m) => m instanceof MBConv).length, 3);

      const state = new Map([...tensors].filter(([key]) => !/^(input|output|grad|after)\./.test(key)));
      const report = model.loadStateDict(state);
      assert.deepEqual([report.missing, report.unexpected, report.misShaped], [[], [], []], 'state dict keys and shapes differ from torchvision');

      const params = model.parameters().reduce((sum, p) => sum + p.numel, 0);
      const profile = profileNetwork(model.spec, { imageSize: size, numClasses: classes });
      assert.equal(params, Number(metadata.params), 'parameter count differs from torchvision');
      assert.equal(profile.params, Number(metadata.params), 'profiler parameters differ from torchvision');
      assert.equal(profile.macs, Number(metadata.macs), 'profiler MACs differ from the forward-hook count');

      const x = tensors.get('input.x')!;
      model.eval();
      tidy(() => {
        const diff = relativeDiff(noGrad(() => model.forward(x)), tensors.get('output.eval')!);
        assert.ok(diff < 1e-4, `eval logits differ by ${diff} (relative)`);
      });

      model.train();
      tidy(() => {
        const input = x.clone().requiresGrad_(true);
        const logits = model.forward(input);
        crossEntropy(logits, tensors.get('input.y')!).backward();
        assert.ok(relativeDiff(logits, tensors.get('output.train')!) < 1e-4, 'training-mode logits differ');
        assert.ok(relativeDiff(input.grad!, tensors.get('grad.input')!) < 1e-4, 'input gradient differs');
        let checked = 0;
        for (const [name, param] of model.namedParameters()) {
          const diff = relativeDiff(param.grad!, tensors.get(`grad.${name}`)!);
          assert.ok(diff < 1e-4, `gradient of ${name} differs by ${diff} (relative)`);
          checked += 1;
        }
        assert.equal(checked, [...tensors.keys()].filter((k) => k.startsWith('grad.') && k !== 'grad.input').length);
        for (const [name, buffer] of model.stateDict()) {
          const expected = tensors.get(`after.${name}`);
          if (expected === undefined) continue;
          assert.ok(relativeDiff(buffer, expected) < 1e-4, `${name} after a training forward differs`);
        }
      });

      // The training forward moved the running statistics; the export is compared with the model as it is now.
      model.eval();
      const evalLogits = tidy(() => noGrad(() => model.forward(x)).toFloat32Array());
      const exported = exportEfficientNet(model, { imageSize: size });
      const session = await ort.InferenceSession.create(exported.bytes, { graphOptimizationLevel: 'all', intraOpNumThreads: 2 });
      try {
        const result = await session.run({ input: new ort.Tensor('float32', x.toFloat32Array(), x.shape) });
        const onnx = result.logits!.data as Float32Array;
        let worst = 0;
        for (let i = 0; i < onnx.length; i++) worst = Math.max(worst, Math.abs(onnx[i]! - evalLogits[i]!));
        assert.ok(worst < 1e-4, `ONNX logits differ from libtorch's by ${worst}`);
      } finally {
        await session.release();
      }
    } finally {
      model.dispose();
      tensors.forEach((tensor) => tensor.dispose());
    }
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});
