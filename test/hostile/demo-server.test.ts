/**
 * Item 1 of the hostile-input issue: `effnet serve-demo` facing the requests any web page can make it send. A path
 * that does not percent-decode is a 400 and the server keeps serving; a Host header of another name (DNS
 * rebinding) is refused; 60 clients that request the 28 MB wasm and never read it cost the server a few MB, not
 * a copy of the file each. The server is the user's command, run under /usr/bin/time: its peak memory stays
 * under the harness's bound and it exits 0 on Ctrl-C.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from '../train/cli-helpers.js';
import { harnessSkip, MEMORY_LIMIT_MB } from './harness.js';

/** Sends one raw HTTP/1.1 request and returns the status line's code and the body's first bytes. */
function rawRequest(port: number, head: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(head));
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? NaN), text }));
  });
}

function get(port: number, path: string, host = `127.0.0.1:${port}`): Promise<{ status: number; text: string }> {
  return rawRequest(port, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
}

/** Resident memory of a process in MiB (VmRSS). */
function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? NaN) / 1024;
}

test('serve-demo: malformed paths are 400s, foreign Host headers refused, stalled downloads bounded; it keeps serving', { skip: harnessSkip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'effnet-hostile-demo-'));
  const rssFile = join(dir, 'rss');
  const child = spawn('/usr/bin/time', ['-f', '%M', '-o', rssFile, process.execPath, CLI, 'serve-demo', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(stdout);
      if (match) resolve(Number(match[1]));
    });
    child.on('close', () => reject(new Error(`serve-demo ended before listening: ${stderr}`)));
  });
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const server = Number(readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/)[0]);
  const sockets: Socket[] = [];
  try {
    assert.equal((await get(port, '/')).status, 200);
    for (const path of ['/%', '/%E0%A4%A', '/ort/%', '/lib/%ZZ']) {
      const answer = await get(port, path);
      assert.equal(answer.status, 400, `${path}: ${answer.text.slice(0, 200)}`);
    }
    // DNS rebinding: a page at http://evil.example:PORT/ resolving to 127.0.0.1 sends its own name.
    const rebound = await get(port, '/model.onnx', `evil.example:${port}`);
    assert.equal(rebound.status, 421);
    assert.equal((await get(port, '/', `localhost:${port}`)).status, 200);
    // Traversal spellings still 404 (they did before; kept as a guard).
    for (const path of ['/..%2f..%2fetc%2fpasswd', '/lib/../../package.json', '/ort/%2e%2e/%2e%2e/package.json']) {
      const answer = await get(port, path);
      assert.ok(answer.status === 404 || answer.status === 400, `${path}: ${answer.status}`);
    }

    const before = rssMb(server);
    const wasm = '/ort/ort-wasm-simd-threaded.jsep.wasm';
    for (let i = 0; i < 60; i++) {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.write(`GET ${wasm} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
      socket.pause(); // never read: the server's writes back up
      sockets.push(socket);
    }
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const stalled = rssMb(server);
    // Served whole-file this was 60 x 28 MB; streamed it is the socket buffers and one chunk per client.
    assert.ok(stalled - before < 200, `60 stalled downloads grew the server from ${before.toFixed(0)} to ${stalled.toFixed(0)} MiB`);
    assert.equal((await get(port, '/')).status, 200, 'the server keeps serving');
  } finally {
    for (const socket of sockets) socket.destroy();
    process.kill(server, 'SIGINT');
  }
  const code = await closed;
  assert.equal(code, 0, `serve-demo exited ${code} after Ctrl-C: ${stderr}`);
  const peak = Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop()) / 1024;
  rmSync(dir, { recursive: true, force: true });
  assert.ok(peak < MEMORY_LIMIT_MB, `serve-demo peaked at ${peak.toFixed(0)} MiB`);
});
