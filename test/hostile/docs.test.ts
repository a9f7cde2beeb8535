/**
 * docs/security.md lists every bound of src/limits.ts with its environment variable and its default, so the page
 * users read to raise a limit cannot drift from the code; and a bound set in the environment is the one in force.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkLimit, limit, LimitError, LIMIT_DEFAULTS, limitVariable, type LimitName } from '../../src/limits.js';
import { UserError } from '../../src/errors.js';

const PAGE = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../../../docs/security.md'), 'utf8');

test('docs/security.md lists every bound with its variable and default', () => {
  for (const [name, value] of Object.entries(LIMIT_DEFAULTS)) {
    const row = new RegExp(`\\| \`${limitVariable(name as LimitName)}\` \\| ${value} \\|`);
    assert.match(PAGE, row, `${name} (${limitVariable(name as LimitName)} = ${value}) is missing from docs/security.md`);
  }
  const listed = [...PAGE.matchAll(/`(EFFNET_LIMIT_[A-Z_]+)`/g)].map((m) => m[1]);
  const known = Object.keys(LIMIT_DEFAULTS).map((n) => limitVariable(n as LimitName));
  assert.deepEqual([...new Set(listed)].filter((v) => !known.includes(v!)), [], 'the page names bounds the code does not have');
});

test('a bound comes from its environment variable when set, and a bad value is refused', () => {
  assert.equal(limitVariable('imagePixels'), 'EFFNET_LIMIT_IMAGE_PIXELS');
  const saved = process.env.EFFNET_LIMIT_CLASSES;
  try {
    process.env.EFFNET_LIMIT_CLASSES = '12';
    assert.equal(limit('classes'), 12);
    assert.throws(() => checkLimit('classes', 13, 'a class count'), (e: Error) => e instanceof LimitError && e instanceof UserError && /a class count is 13, over effnet's limit of 12; .*EFFNET_LIMIT_CLASSES=N/.test(e.message));
    checkLimit('classes', 12, 'a class count');
    process.env.EFFNET_LIMIT_CLASSES = 'lots';
    assert.throws(() => limit('classes'), /EFFNET_LIMIT_CLASSES must be a positive number, got 'lots'/);
  } finally {
    if (saved === undefined) delete process.env.EFFNET_LIMIT_CLASSES;
    else process.env.EFFNET_LIMIT_CLASSES = saved;
  }
});
