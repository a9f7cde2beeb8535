// Prints the compiler and linker settings for libtorch, for binding.gyp.
// LIBTORCH points at a libtorch distribution (include/, lib/), CUDA builds included;
// without it, Debian's libtorch-dev layout under /usr is used.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = process.env.LIBTORCH;
const what = process.argv[2];

function fail(message) {
  process.stderr.write(`effnet native build: ${message}\n`);
  process.exit(1);
}

let includeDirs;
let libDir;
if (root) {
  includeDirs = [path.join(root, 'include'), path.join(root, 'include/torch/csrc/api/include')];
  libDir = path.join(root, 'lib');
  if (!fs.existsSync(path.join(root, 'include/ATen/ATen.h'))) {
    fail(`LIBTORCH=${root} has no include/ATen/ATen.h; point LIBTORCH at an unpacked libtorch distribution`);
  }
} else {
  includeDirs = ['/usr/include/torch/csrc/api/include'];
  libDir = '/usr/lib/x86_64-linux-gnu';
  const multiarch = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib'];
  libDir = multiarch.find((dir) => fs.existsSync(path.join(dir, 'libtorch_cpu.so')));
  if (!fs.existsSync('/usr/include/ATen/ATen.h') || !libDir) {
    fail('libtorch not found: install Debian\'s libtorch-dev (apt-get install libtorch-dev) or set LIBTORCH to a libtorch distribution');
  }
}

switch (what) {
  case '--include':
    process.stdout.write(includeDirs.join(' '));
    break;
  case '--libs':
    process.stdout.write([`-L${libDir}`, `-Wl,-rpath,${libDir}`, '-ltorch', '-ltorch_cpu', '-lc10'].join(' '));
    break;
  default:
    fail(`unknown option ${what}; expected --include or --libs`);
}
