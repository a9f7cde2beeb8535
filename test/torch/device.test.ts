/**
 * Devices on a CPU-only libtorch: `--device` values resolved (auto is the CPU here, CUDA asked for is a clear error
 * saying why), tensors created on a device, Module.to() moving parameters in place (the same tensor objects, so
 * layers and optimizers keep working), and the build's C++ ABI and CUDA detection (native/libtorch-config.cjs) on
 * Debian's libtorch, on pip-torch layouts and on real shared libraries compiled with either ABI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeviceError, cudaAvailable, cudaDeviceCount, deviceForWorker, resolveDevice, backendFlags, setBackendFlags, rand, zeros, tensor, tidy, noGrad } from '../../src/torch/index.js';
import { createEfficientNet, customConfig } from '../../src/efficientnet/index.js';
import { SGD } from '../../src/optim/index.js';
import { crossEntropy, randn } from '../../src/torch/index.js';

const require = createRequire(import.meta.url);
const configPath = fileURLToPath(new URL('../../../native/libtorch-config.cjs', import.meta.url));
const { libtorchBuildConfig } = require(configPath) as {
  libtorchBuildConfig: (root: string | undefined, options?: { debianLibDirs?: string[]; debianHeader?: string }) => { abi: number; abiSource: string; cuda: boolean; libs: string[]; defines: string[] };
};

const gpus = cudaDeviceCount();

test('--device values: auto is the CPU without CUDA, cuda asked for is a DeviceError that says why, bad values named', () => {
  assert.equal(cudaAvailable(), gpus > 0);
  assert.equal(resolveDevice('cpu'), 'cpu');
  assert.equal(resolveDevice(' CPU '), 'cpu');
  if (gpus === 0) {
    assert.equal(resolveDevice('auto'), 'cpu');
    assert.throws(() => resolveDevice('cuda'), (e: unknown) => e instanceof DeviceError && /CUDA is not available here/.test(e.message) && /CPU build/.test(e.message) && /--device cpu/.test(e.message));
    assert.throws(() => resolveDevice('cuda:0'), DeviceError);
  } else {
    assert.equal(resolveDevice('auto'), 'cuda:0');
    assert.equal(resolveDevice('cuda'), 'cuda:0');
    assert.throws(() => resolveDevice(`cuda:${gpus}`), DeviceError);
  }
  assert.throws(() => resolveDevice('tpu'), (e: unknown) => e instanceof DeviceError && /unknown device 'tpu'/.test(e.message));
  assert.throws(() => resolveDevice('cuda:x'), /unknown device/);
  // With devices (the count injected): auto takes the first, an index past the last is refused.
  assert.equal(resolveDevice('auto', () => 2), 'cuda:0');
  assert.equal(resolveDevice('cuda', () => 2), 'cuda:0');
  assert.equal(resolveDevice('cuda:1', () => 2), 'cuda:1');
  assert.throws(() => resolveDevice('cuda:2', () => 2), /there are 2 CUDA devices \(cuda:0\.\.cuda:1\)/);
  // Workers of a host: round-robin over the GPUs unless an index pins them; the CPU without CUDA.
  assert.deepEqual([0, 1, 2].map((i) => deviceForWorker('auto', i, () => 2)), ['cuda:0', 'cuda:1', 'cuda:0']);
  assert.deepEqual([0, 1].map((i) => deviceForWorker('cuda:1', i, () => 2)), ['cuda:1', 'cuda:1']);
  assert.equal(deviceForWorker('auto', 3, () => 0), 'cpu');
  assert.equal(deviceForWorker('cpu', 1, () => 2), 'cpu');
});

test('tensors on a device: created there, CUDA refused with an error (not a crash), backend switches settable', () => {
  tidy(() => {
    assert.equal(zeros([2], { device: 'cpu' }).device, 'cpu');
    assert.equal(tensor([1, 2], [2], { device: 'cpu' }).device, 'cpu');
    assert.equal(rand([3], { dtype: 'float64' }).dtype, 'float64');
    assert.equal(tensor([1]).toDevice('cpu').device, 'cpu');
    if (gpus === 0) {
      assert.throws(() => zeros([2], { device: 'cuda:0' }), /CUDA/);
      assert.throws(() => tensor([1]).toDevice('cuda:0'), /CUDA/);
    } else {
      assert.equal(zeros([2], { device: 'cuda:0' }).device, 'cuda:0');
      assert.deepEqual(tensor([1, 2]).toDevice('cuda:0').toDevice('cpu').toArray(), [1, 2]);
    }
  });
  const before = backendFlags();
  setBackendFlags({ cudnnBenchmark: true, allowTF32: false });
  assert.deepEqual(backendFlags(), { cudnnBenchmark: true, allowTF32CuDNN: false, allowTF32CuBLAS: false });
  setBackendFlags({ cudnnBenchmark: before.cudnnBenchmark, allowTF32: before.allowTF32CuDNN });
});

test('Module.to() converts parameters in place: layers and an optimizer built before it keep working on the same tensors', () => {
  const model = createEfficientNet(customConfig({ width: 0.25, depth: 0.2, resolution: 32, dropout: 0 }), { numClasses: 3, stochasticDepth: 0 });
  const params = model.parameters();
  const optimizer = new SGD(params, { lr: 0.1 });
  const counters = model.buffers().filter((b) => b.dtype === 'int64');
  const before = noGrad(() => tidy(() => model.eval().forward(randn([1, 3, 32, 32])).toArray()));
  assert.equal(model.to({ device: 'cpu' }), model, 'already there: nothing moves');
  model.to({ dtype: 'float64' });
  assert.equal(model.device, 'cpu');
  assert.ok(model.parameters().every((p, i) => p === params[i] && p.dtype === 'float64'), 'the same tensor objects, now float64');
  assert.ok(counters.length > 0 && counters.every((b) => b.dtype === 'int64'), 'integer buffers keep their dtype');
  assert.ok(model.buffers().filter((b) => b.dtype !== 'int64').every((b) => b.dtype === 'float64'));
  const after = noGrad(() => tidy(() => model.forward(randn([1, 3, 32, 32], { dtype: 'float64' })).toArray()));
  assert.equal(after.length, before.length);
  // The optimizer holds the same tensors: a float64 step changes them.
  const first = params[0]!.toArray()[0]!;
  model.train();
  tidy(() => crossEntropy(model.forward(randn([2, 3, 32, 32], { dtype: 'float64' })), tensor([0, 2], [2], { dtype: 'int64' })).backward());
  assert.equal(params[0]!.grad!.dtype, 'float64');
  optimizer.step();
  assert.notEqual(params[0]!.toArray()[0], first);
  assert.equal(params[0]!.dtype, 'float64');
  model.dispose();
});

test("the build's C++ ABI and CUDA detection: Debian's libtorch, pip layouts, and libraries compiled with either ABI", () => {
  if (existsSync('/usr/include/ATen/ATen.h')) {
    const debian = libtorchBuildConfig(undefined);
    assert.equal(debian.abi, 1, "Debian's libtorch uses the new ABI");
    assert.match(debian.abiSource, /TorchConfig\.cmake/);
    assert.equal(debian.cuda, false);
    assert.ok(debian.defines.includes('_GLIBCXX_USE_CXX11_ABI=1') && !debian.defines.includes('EFFNET_WITH_CUDA'));
  }
  // A pip torch folder before 2.7: old ABI in TorchConfig.cmake, CUDA libraries beside the CPU ones.
  const pip = mkdtempSync(join(tmpdir(), 'effnet-pip-torch-'));
  mkdirSync(join(pip, 'include/ATen'), { recursive: true });
  mkdirSync(join(pip, 'lib'), { recursive: true });
  mkdirSync(join(pip, 'share/cmake/Torch'), { recursive: true });
  writeFileSync(join(pip, 'include/ATen/ATen.h'), '');
  for (const lib of ['libtorch_cpu.so', 'libtorch_cuda.so', 'libc10_cuda.so']) writeFileSync(join(pip, 'lib', lib), '');
  writeFileSync(join(pip, 'share/cmake/Torch/TorchConfig.cmake'), 'if(CMAKE_SYSTEM_NAME STREQUAL "Linux")\n  set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=0")\nendif()\n');
  const pipConfig = libtorchBuildConfig(pip);
  assert.equal(pipConfig.abi, 0);
  assert.equal(pipConfig.cuda, true);
  assert.deepEqual(pipConfig.defines, ['_GLIBCXX_USE_CXX11_ABI=0', 'EFFNET_WITH_CUDA']);
  const libs = pipConfig.libs.join(' ');
  assert.match(libs, /-Wl,--no-as-needed -ltorch_cuda -lc10_cuda -Wl,--as-needed/, 'CUDA libraries kept although nothing refers to them');
  // Without TorchConfig.cmake: the ABI read from libc10.so's symbols, on libraries really compiled each way.
  for (const abi of [0, 1]) {
    const root = mkdtempSync(join(tmpdir(), `effnet-abi${abi}-`));
    mkdirSync(join(root, 'include/ATen'), { recursive: true });
    mkdirSync(join(root, 'lib'), { recursive: true });
    writeFileSync(join(root, 'include/ATen/ATen.h'), '');
    writeFileSync(join(root, 'lib/libtorch_cpu.so'), '');
    const source = join(root, 'c10.cc');
    writeFileSync(source, '#include <string>\nnamespace c10 { std::string describe(const std::string& s) { return s + "!"; } }\n');
    execFileSync('g++', ['-shared', '-fPIC', `-D_GLIBCXX_USE_CXX11_ABI=${abi}`, '-o', join(root, 'lib/libc10.so'), source]);
    const detected = libtorchBuildConfig(root);
    assert.equal(detected.abi, abi, `a libc10.so built with _GLIBCXX_USE_CXX11_ABI=${abi}`);
    assert.match(detected.abiSource, /libc10\.so/);
  }
  // A folder that is not a libtorch: a clear error.
  const cli = spawnSync(process.execPath, [configPath, '--defines'], { encoding: 'utf8', env: { ...process.env, LIBTORCH: tmpdir() } });
  assert.equal(cli.status, 1);
  assert.match(cli.stderr, /has no include\/ATen\/ATen\.h; point LIBTORCH at an unpacked libtorch distribution or at a pip torch/);
});
