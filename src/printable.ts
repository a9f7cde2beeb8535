/**
 * Text from files (class names of a model card, folder names, paths) printed to a terminal: control characters and
 * bidirectional overrides in it would move the cursor, clear the screen or reorder what the user reads (a class
 * named "\u202Egod" shows as "dog"), so the human-readable output shows them escaped. JSON output needs nothing:
 * JSON.stringify escapes control characters and a program reads it.
 */

/** C0 and C1 controls, DEL, and the Unicode bidirectional formatting characters. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** `text` with every control or bidi character written as \u{XXXX}, safe to print to a terminal. */
export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => `\\u{${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}}`);
}

/**
 * `value` as one argument of a POSIX shell command a user copies: unchanged when it holds only characters no shell
 * treats specially (letters, digits and `_-./:=,@%+`), else in single quotes (a quote inside written as '\''). For
 * the `next:` commands the searches print, whose paths and data specs come from the user.
 */
export function shellArgument(value: string): string {
  if (value !== '' && /^[A-Za-z0-9_\-./:=,@%+]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
