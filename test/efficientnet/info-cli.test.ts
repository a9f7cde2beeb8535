/**
 * `effnet info` end to end: spawns `node dist/src/cli/main.js info ...` and checks the tables and JSON against the
 * profiler and the torchvision fixture, and that bad input exits 2 with a message on stderr.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadTorchvisionFixture } from './fixture.js';

const mainJs = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function info(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [mainJs, 'info', ...args], { encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('info b0 prints the stage table with the totals', () => {
  const { code, stdout, stderr } = info('b0');
  assert.equal(code, 0, stderr);
  const lines = stdout.split('\n');
  assert.match(lines[0]!, /EfficientNet-b0 \(width 1, depth 1, resolution 224, dropout 0.2\)/);
  assert.match(stdout, /stage\s+operator\s+resolution\s+channels\s+layers\s+params\s+MACs\s+activations/);
  assert.match(stdout, /stage3\s+MBConv6, k5x5\s+56x56\s+40\s+2\s/);
  assert.match(stdout, /total\s+19\s+5,288,548\s+385\.81M/);
});

test('info --json matches the torchvision fixture for custom configurations', () => {
  const fixture = loadTorchvisionFixture();
  for (const reference of fixture.custom.slice(0, 3)) {
    const [h, w] = reference.imageSize;
    const { code, stdout, stderr } = info(
      '--width', String(reference.width), '--depth', String(reference.depth), '--image-size', String(Math.max(32, h)),
      '--input-size', `${h}x${w}`, '--num-classes', String(reference.numClasses), '--json',
      // torchvision's models keep B0's strides at every size; effnet's card would apply the small-image rule up to 64px.
      '--strides', '1,2,2,2,1,2,1',
    );
    assert.equal(code, 0, stderr);
    const parsed = JSON.parse(stdout) as { params: number; macs: number; activations: number; stages: { name: string; params: number; macs: number; activations: number }[] };
    assert.equal(parsed.params, reference.params);
    assert.equal(parsed.macs, reference.macs);
    assert.equal(parsed.activations, reference.activations);
    assert.deepEqual(parsed.stages.map((s) => [s.name, s.params, s.macs, s.activations]), reference.stages.map((s) => [s.name, s.params, s.macs, s.activations]));
  }
});

test('info --all prints the family; --all --json has every variant', () => {
  const text = info('--all');
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /b7\s+2\s+3\.1\s+600\s+0\.5\s+66,347,960\s+37\.7459B/);
  const json = info('--all', '--json', '--num-classes', '10');
  assert.equal(json.code, 0, json.stderr);
  const parsed = JSON.parse(json.stdout) as { numClasses: number; variants: { name: string; params: number }[] };
  assert.equal(parsed.numClasses, 10);
  assert.deepEqual(parsed.variants.map((v) => v.name), ['b0', 'b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7', 'b8', 'l2', 'v2-s', 'v2-m', 'v2-l', 'v2-xl', 'lite0', 'lite1', 'lite2', 'lite3', 'lite4', 'v2-b0', 'v2-b1', 'v2-b2', 'v2-b3']);
  assert.equal(parsed.variants[0]!.params, 5_288_548 - 990 * 1281);
  // torchvision's published num_params of V2-S less 990 classifier rows of 1,281 (1,280 weights and a bias).
  assert.equal(parsed.variants.find((v) => v.name === 'v2-s')!.params, 21_458_488 - 990 * 1281);
  assert.match(text.stdout, /v2-l\s+1\s+1\s+480\s+0\.4\s+118,515,272\s+56\.0797B/);
});

test('info lite0: no SE, ReLU6 and the Lite rule in the card; 4,652,008 parameters at 224', () => {
  const text = info('lite0');
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /stem\s+Conv3x3\s+224x224\s+32\s+1\s/);
  assert.match(text.stdout, /head\s+Conv1x1 & Pooling\s+7x7\s+1280\s+1\s/);
  const card = JSON.parse(info('efficientnet_lite0', '--card').stdout) as { architecture: { name: string; stages: string[]; activation?: string; scaling?: string } };
  assert.equal(card.architecture.name, 'lite0');
  assert.equal(card.architecture.activation, 'relu6');
  assert.equal(card.architecture.scaling, 'lite');
  assert.ok(card.architecture.stages.every((stage) => !stage.includes('_se')), card.architecture.stages.join(' '));
  const b0 = JSON.parse(info('b0', '--card').stdout) as { architecture: Record<string, unknown> };
  assert.equal('activation' in b0.architecture || 'scaling' in b0.architecture, false, 'other cards are unchanged');
});

test('info v2-s: the V2 stage table (Fused-MBConv stages 1-3, stem 24) and a card with its stages and eps 1e-3', () => {
  const text = info('v2-s');
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /stage1\s+FusedMBConv1, k3x3\s+192x192\s+24\s+2\s/);
  assert.match(text.stdout, /stage6\s+MBConv6, k3x3\s+24x24\s+256\s+15\s/);
  assert.match(text.stdout, /total\s+43\s+21,458,488\s+8\.3656B/);
  const card = JSON.parse(info('efficientnet_v2_s', '--card').stdout) as { architecture: { name: string; stages: string[]; batchNorm: { eps: number; momentum: number } } };
  assert.equal(card.architecture.name, 'v2-s');
  assert.equal(card.architecture.stages[0], 'r2_k3_s11_e1_i24_o24_f1');
  assert.deepEqual(card.architecture.batchNorm, { eps: 1e-3, momentum: 0.1 });
});

test('info --phi uses compound scaling; padding and image size are honoured', () => {
  const phi = info('--phi', '0.5', '--json');
  assert.equal(phi.code, 0, phi.stderr);
  const parsed = JSON.parse(phi.stdout) as { config: { resolution: number; phi: number }; imageSize: number[] };
  assert.equal(parsed.config.resolution, 240);
  assert.equal(parsed.config.phi, 0.5);
  assert.deepEqual(parsed.imageSize, [240, 240]);
  const negative = info('--phi', '-1', '--json');
  assert.equal(negative.code, 0, negative.stderr);
  assert.equal((JSON.parse(negative.stdout) as { config: { resolution: number } }).config.resolution, 196); // 224 / 1.15 = 194.8 → 196
  const same = info('b1', '--padding', 'same', '--input-size', '100x64', '--json');
  assert.equal(same.code, 0, same.stderr);
  const sameParsed = JSON.parse(same.stdout) as { padding: string; imageSize: number[]; stages: { outputSize: number[] }[] };
  assert.equal(sameParsed.padding, 'same');
  assert.deepEqual(sameParsed.stages[0]!.outputSize, [50, 32]);
});

test('bad input exits 2 with a clear message on stderr', () => {
  const cases: [string[], RegExp][] = [
    [['b9'], /unknown EfficientNet variant 'b9'; valid names: b0, b1, .*l2/],
    [[], /name a variant/],
    [['b0', 'b1'], /expected one variant name/],
    [['b0', '--phi', '1'], /only one of/],
    [['--phi', '1', '--width', '2'], /--phi sets width, depth and resolution/],
    [['--width', '0'], /width multiplier must be a finite number > 0/],
    [['--depth', '-1'], /depth multiplier must be a finite number > 0/],
    [['--width', 'abc'], /--width must be a number, got 'abc'/],
    [['--image-size', '7'], /the image size must be an integer >= 8, got 7/],
    [['b0', '--resolution', '64'], /--resolution was renamed --image-size/],
    [['b0', '--image-size', '100x64'], /to profile a non-square input use --input-size HxW/],
    [['b0', '--image-size', '31', '--strides', '1,2,2,2,1,2,1'], /image size 31 is smaller than the network's total stride 32 \(stem 2 x strides 1,2,2,2,1,2,1\)/],
    [['b0', '--input-size', 'big'], /--input-size expects a size like 224/],
    [['b0', '--padding', 'valid'], /--padding expects 'same' or 'symmetric'/],
    [['b0', '--num-classes', '2.5'], /--num-classes must be an integer >= 1, got '2.5'/],
    [['b0', '--bogus'], /Unknown option '--bogus'/],
    [['--all', 'b0'], /--all prints every registered variant/],
    [['--alpha', '1.3'], /--alpha\/--beta\/--gamma need --phi/],
    [['--phi', '1', '--gamma', 'NaN'], /--gamma must be a number/],
    [['--phi', '-40'], /below the smallest input any network takes/],
  ];
  for (const [args, pattern] of cases) {
    const { code, stdout, stderr } = info(...args);
    assert.equal(code, 2, `${args.join(' ')}: exit code`);
    assert.equal(stdout, '', `${args.join(' ')}: nothing on stdout`);
    assert.match(stderr, pattern, args.join(' '));
  }
  const help = info('--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout, /usage: effnet info <variant>/);
});
