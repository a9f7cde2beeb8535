// Prints the compiler and linker settings of the libtorch to build against, for binding.gyp:
//   node libtorch-config.cjs --include | --libs | --defines | --json
// LIBTORCH points at a libtorch distribution or at a pip torch's package folder (both have include/ and lib/), CUDA
// builds included; without it, Debian's libtorch-dev layout under /usr is used.
//
// The C++ ABI (_GLIBCXX_USE_CXX11_ABI) must match the one libtorch was built with, or linking fails on std::string
// symbols: pip wheels before torch 2.7 use 0, later wheels and Debian 1. It is read from the distribution's
// TorchConfig.cmake (TORCH_CXX_FLAGS), else from the symbols libc10.so exports (std::__cxx11 names mean 1).
// A libtorch with CUDA (lib/libtorch_cuda.so) is linked with --no-as-needed, since nothing in the addon refers to its
// symbols directly and the linker would otherwise drop it, leaving CUDA unregistered (pytorch#36437).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

class ConfigError extends Error {}

/** The TorchConfig.cmake files a distribution may have, most specific first. */
function torchConfigCandidates(root, libDir) {
  return [
    path.join(root, 'share/cmake/Torch/TorchConfig.cmake'),
    path.join(libDir, 'cmake/Torch/TorchConfig.cmake'),
  ];
}

/** The ABI flag from TorchConfig.cmake's TORCH_CXX_FLAGS, or null. */
function abiFromTorchConfig(files) {
  for (const file of files) {
    if (!fs.existsSync(file)) continue;
    const match = /TORCH_CXX_FLAGS\s+"[^"]*-D_GLIBCXX_USE_CXX11_ABI=([01])/.exec(fs.readFileSync(file, 'utf8'));
    if (match) return { abi: Number(match[1]), source: file };
  }
  return null;
}

/** The ABI from libc10.so's exported names: the new ABI mangles std::string as std::__cxx11::basic_string. */
function abiFromSymbols(libDir) {
  const lib = path.join(libDir, 'libc10.so');
  if (!fs.existsSync(lib)) return null;
  // c10 takes and returns std::string all over (c10::Error, LogAPIUsage, ...): an old-ABI build has no __cxx11 name.
  return fs.readFileSync(lib).includes('St7__cxx11') ? { abi: 1, source: `${lib} (std::__cxx11 symbols)` } : { abi: 0, source: `${lib} (no std::__cxx11 symbols)` };
}

/**
 * The build settings of the libtorch at `root` (a distribution or pip torch folder), or Debian's when root is empty.
 * @returns {{ includeDirs: string[], libDir: string, abi: 0 | 1, abiSource: string, cuda: boolean, libs: string[], defines: string[] }}
 */
function libtorchBuildConfig(root, options = {}) {
  const debianRoots = options.debianLibDirs ?? ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib'];
  let includeDirs;
  let libDir;
  let configFiles;
  if (root) {
    includeDirs = [path.join(root, 'include'), path.join(root, 'include/torch/csrc/api/include')];
    libDir = path.join(root, 'lib');
    if (!fs.existsSync(path.join(root, 'include/ATen/ATen.h'))) {
      throw new ConfigError(
        `LIBTORCH=${root} has no include/ATen/ATen.h; point LIBTORCH at an unpacked libtorch distribution or at a pip torch's ` +
          'package folder (python3 -c "import torch, os; print(os.path.dirname(torch.__file__))")',
      );
    }
    if (!fs.existsSync(path.join(libDir, 'libtorch_cpu.so'))) throw new ConfigError(`LIBTORCH=${root} has no lib/libtorch_cpu.so`);
    configFiles = torchConfigCandidates(root, libDir);
  } else {
    includeDirs = ['/usr/include/torch/csrc/api/include'];
    libDir = debianRoots.find((dir) => fs.existsSync(path.join(dir, 'libtorch_cpu.so')));
    if (!fs.existsSync(options.debianHeader ?? '/usr/include/ATen/ATen.h') || !libDir) {
      throw new ConfigError("libtorch not found: install Debian's libtorch-dev (apt-get install libtorch-dev) or set LIBTORCH to a libtorch distribution or pip torch folder");
    }
    configFiles = torchConfigCandidates('/usr', libDir);
  }
  const detected = abiFromTorchConfig(configFiles) ?? abiFromSymbols(libDir);
  if (detected === null) throw new ConfigError(`cannot tell the C++ ABI of the libtorch in ${libDir}: no TorchConfig.cmake with TORCH_CXX_FLAGS and no readable libc10.so`);
  const cuda = fs.existsSync(path.join(libDir, 'libtorch_cuda.so'));
  const libs = [`-L${libDir}`, `-Wl,-rpath,${libDir}`, '-ltorch', '-ltorch_cpu', '-lc10'];
  if (cuda) libs.push('-Wl,--no-as-needed', '-ltorch_cuda', '-lc10_cuda', '-Wl,--as-needed');
  const defines = [`_GLIBCXX_USE_CXX11_ABI=${detected.abi}`];
  if (cuda) defines.push('EFFNET_WITH_CUDA');
  return { includeDirs, libDir, abi: detected.abi, abiSource: detected.source, cuda, libs, defines };
}

module.exports = { libtorchBuildConfig, ConfigError };

if (require.main === module) {
  const what = process.argv[2];
  let config;
  try {
    config = libtorchBuildConfig(process.env.LIBTORCH);
  } catch (error) {
    process.stderr.write(`effnet native build: ${error.message}\n`);
    process.exit(1);
  }
  switch (what) {
    case '--include':
      process.stdout.write(config.includeDirs.join(' '));
      break;
    case '--libs':
      process.stdout.write(config.libs.join(' '));
      break;
    case '--defines':
      process.stdout.write(config.defines.join(' '));
      break;
    case '--json':
      process.stdout.write(JSON.stringify(config, null, 2) + '\n');
      break;
    default:
      process.stderr.write(`effnet native build: unknown option ${what}; expected --include, --libs, --defines or --json\n`);
      process.exit(1);
  }
}
