/**
 * Reading a file the user named, bounded: it must be a regular file (a FIFO would block forever, /dev/zero never
 * ends, a directory is a mistake) of at most a bound's bytes, checked before a byte is read. Every reader of outside
 * files (weights, ONNX models, images, configuration files) goes through here.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { BadFileError } from './errors.js';
import { limit, limitVariable, type LimitName } from './limits.js';

/**
 * The whole of a regular file of at most `limit(bound)` bytes. `what` names the file's role in messages ('image',
 * 'model file').
 * @throws BadFileError for a missing or unreadable path, a directory, a device or FIFO, or a file over the bound
 */
export function readInputFile(path: string, bound: LimitName, what: string): Buffer {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer; fstat then tells it is not a file.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new BadFileError(`could not read ${what} ${path}: no such file; check the path`);
    if (code === 'EISDIR') throw new BadFileError(`could not read ${what} ${path}: it is a directory`);
    throw new BadFileError(`could not read ${what} ${path}: ${(error as Error).message}`);
  }
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) throw new BadFileError(`could not read ${what} ${path}: it is a directory`);
    if (!stat.isFile()) throw new BadFileError(`could not read ${what} ${path}: it is not a regular file (a device, FIFO or socket); pass a file on disk`);
    const max = limit(bound);
    if (stat.size > max) {
      throw new BadFileError(`${path} is ${stat.size.toLocaleString('en-US')} bytes, over effnet's limit of ${max.toLocaleString('en-US')} bytes for a ${what}; if it is trusted, raise the limit with ${limitVariable(bound)}=N (docs/security.md)`);
    }
    const bytes = Buffer.allocUnsafe(stat.size);
    let read = 0;
    while (read < bytes.length) {
      const n = readSync(fd, bytes, read, bytes.length - read, read);
      if (n === 0) break;
      read += n;
    }
    if (read < bytes.length) throw new BadFileError(`${path} shrank while it was read (${read} of ${bytes.length} bytes); is something writing it?`);
    return bytes;
  } catch (error) {
    if (error instanceof BadFileError) throw error;
    throw new BadFileError(`could not read ${what} ${path}: ${(error as Error).message}`);
  } finally {
    closeSync(fd);
  }
}
