/**
 * The one class of errors that are the user's to fix: a bad flag, an unknown name, a file that is not what it should
 * be, options that cannot work together. The `effnet` command line prints their message without a stack trace and
 * exits with code 2; anything else is a bug or an environment failure (exit code 1, stack with EFFNET_DEBUG=1).
 * Each area has its own subclass (DataSpecError, ModelCardError, ...) so that library callers can tell them apart;
 * the command line only asks `instanceof UserError`.
 */

/** An error the user can fix by changing what they asked for; its message says what was wrong and what to do. */
export class UserError extends Error {
  override name = 'UserError';
}

/** A bad command-line flag or value (a user error). */
export class UsageError extends UserError {
  override name = 'UsageError';
}

/** Whether `error` is the argument parser's (node:util parseArgs: unknown option, missing value, ...). */
export function isParseArgsError(error: unknown): boolean {
  return error instanceof TypeError && 'code' in error && String((error as { code: unknown }).code).startsWith('ERR_PARSE_ARGS');
}

/** Whether `error` is a {@link UserError} (exit code 2 on the command line). */
export function isUserError(error: unknown): error is UserError {
  return error instanceof UserError;
}

/**
 * A file that is not what it should be: corrupt, truncated, forged, of another format, or over one of effnet's
 * bounds (src/limits.ts). A user error (exit code 2): the user handed effnet the wrong or a broken file.
 */
export class BadFileError extends UserError {
  override name = 'BadFileError';
}
