/**
 * The fuzz pass of the hostile-input issue: seeded random mutations of a valid safetensors model file, ONNX export,
 * torch.save .pth, tar and tar.gz dataset, PNG and JPEG, each through the readers a user's command runs on it
 * (fuzz-target.ts, one process per kind under /usr/bin/time). Asserted: no crash (no signal, no fatal OOM: exit
 * 0), peak memory under the harness's bound, bounded time, and every failure a documented user error (a UserError
 * subclass: BadFileError, ModelCardError, LimitError, ...). Bounded for CI: 1,000 mutations per kind, about half a
 * minute in all; EFFNET_FUZZ_COUNT and EFFNET_FUZZ_SEED run a longer or another campaign.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { paxRecords, pngBytes, tarArchive, torchSavePickle, writeTinyFiles, zipArchive, type TarMember } from './craft.js';
import { harnessSkip, MEMORY_LIMIT_MB } from './harness.js';

const TARGET = join(dirname(fileURLToPath(import.meta.url)), 'fuzz-target.js');
const COUNT = Number(process.env.EFFNET_FUZZ_COUNT ?? 1000);
const SEED = Number(process.env.EFFNET_FUZZ_SEED ?? 26);
let dir = '';
const files: Record<string, string> = {};

before(async () => {
  if (harnessSkip) return;
  dir = mkdtempSync(join(tmpdir(), 'effnet-fuzz-'));
  const tiny = await writeTinyFiles(join(dir, 'model'));
  files.safetensors = tiny.model;
  files.onnx = tiny.onnx;
  files.png = join(dir, 'seed.png');
  writeFileSync(files.png, await pngBytes(24, 20, 90));
  files.jpeg = join(dir, 'seed.jpg');
  await sharp(Buffer.alloc(24 * 20 * 3, 120), { raw: { width: 24, height: 20, channels: 3 } }).jpeg().withMetadata({ orientation: 6 }).toFile(files.jpeg);
  files.pth = join(dir, 'seed.pth');
  // A file torch.save itself wrote when Debian's python3-torch is there (views, an expand and a transpose), else ours.
  const python = spawnSync('/usr/bin/python3', ['-c', "import sys, torch\ntorch.save({'w': torch.randn(3, 4), 'e': torch.randn(5).expand(2, 5), 't': torch.arange(6.).reshape(2, 3).t(), 'n': torch.zeros(4, dtype=torch.int64)}, sys.argv[1])", files.pth]);
  if (python.status !== 0) {
    writeFileSync(files.pth, zipArchive([
      { name: 'archive/data.pkl', data: torchSavePickle([{ name: 'w', key: '0', numel: 12, size: [3, 4], stride: [4, 1] }, { name: 't', key: '0', numel: 12, size: [4, 3], stride: [1, 4] }]) },
      { name: 'archive/data/0', data: new Uint8Array(48) },
      { name: 'archive/version', data: Buffer.from('3\n') },
    ]));
  }
  const members: TarMember[] = [];
  for (const cls of ['ant', 'bee']) for (let i = 0; i < 3; i++) members.push({ name: `${cls}/${i}.png`, data: await pngBytes(8, 8, 40 * i) });
  members.splice(2, 0, { name: 'PaxHeader', type: 'x', data: paxRecords({ path: 'ant/long-name.png' }) });
  files.tar = join(dir, 'seed.tar');
  writeFileSync(files.tar, tarArchive(members));
  files.targz = join(dir, 'seed.tar.gz');
  execFileSync('gzip', ['-k', files.tar]);
  writeFileSync(files.targz, readFileSync(`${files.tar}.gz`));
});
after(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

const KINDS: [string, string][] = [['safetensors', 'safetensors'], ['onnx', 'onnx'], ['pth', 'pth'], ['tar', 'tar'], ['targz', 'targz'], ['image', 'png'], ['image', 'jpeg']];

for (const [kind, file] of KINDS) {
  test(`fuzz ${file}: ${COUNT} seeded mutations through the readers, only user errors, bounded memory`, { skip: harnessSkip }, () => {
    const rss = join(dir, `${file}.rss`);
    const started = Date.now();
    const run = spawnSync('/usr/bin/time', ['-f', '%M', '-o', rss, process.execPath, TARGET, kind, String(SEED), String(COUNT), files[file]!], {
      encoding: 'utf8',
      timeout: 180_000,
      maxBuffer: 1 << 24,
    });
    const seconds = (Date.now() - started) / 1000;
    const timeOutput = readFileSync(rss, 'utf8');
    assert.doesNotMatch(timeOutput, /terminated by signal/, `the readers crashed: ${timeOutput} ${run.stderr}`);
    assert.equal(run.status, 0, `exit ${run.status}: ${run.stderr.slice(-2000)}`);
    const report = JSON.parse(run.stdout.trim().split('\n').pop()!) as { outcomes: Record<string, number>; unexpected: string[] };
    assert.deepEqual(report.unexpected, [], `errors that are not user errors (seed ${SEED})`);
    assert.equal(Object.values(report.outcomes).reduce((a, b) => a + b, 0), COUNT);
    assert.ok(Object.keys(report.outcomes).length >= 2, `every mutation gave the same outcome: ${JSON.stringify(report.outcomes)}`);
    const peak = Number(timeOutput.trim().split('\n').pop()) / 1024;
    assert.ok(peak < MEMORY_LIMIT_MB, `peak memory ${peak.toFixed(0)} MiB`);
    assert.ok(seconds < 120, `took ${seconds.toFixed(1)} s`);
  });
}
