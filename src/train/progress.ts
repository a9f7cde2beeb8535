/**
 * A training progress bar for a terminal: step/total, a bar, named metrics (loss, accuracy, ...), throughput and
 * ETA. On a TTY it redraws one line in place; on anything else (CI logs, pipes) it prints a full line every
 * `every` steps and at the last step, so logs stay readable.
 */

/** Where the bar writes: process.stderr or anything with the same shape (tests pass a collector). */
export interface ProgressStream {
  write(chunk: string): unknown;
  /** True for terminals; the bar then redraws in place. */
  isTTY?: boolean;
  /** Terminal width in characters, when known. */
  columns?: number;
}

/** Options of ProgressBar. */
export interface ProgressOptions {
  /** Total number of steps (> 0). */
  total: number;
  /**
   * Steps already done when the bar starts, 0..total (a resumed epoch starts at its saved batch); default 0. The
   * rate behind the ETA counts only the steps done since, so the ETA of a resumed epoch is not under-reported.
   */
  start?: number;
  /** Output; default process.stderr. */
  stream?: ProgressStream;
  /** Lines are printed every this many steps when the stream is not a TTY; default max(1, round(total / 10)). */
  every?: number;
  /** Text before the counter, e.g. 'train'; default none. */
  label?: string;
  /** What one unit of throughput is called, e.g. 'img'; default 'img'. */
  unit?: string;
  /** Minimum milliseconds between in-place redraws on a TTY; default 100. */
  redrawMs?: number;
  /** Clock in milliseconds; default performance.now (tests inject a fake). */
  now?: () => number;
}

/** One update: the step just finished (1-based), the items it processed and the metrics to show. */
export interface ProgressUpdate {
  /** Steps done so far, 1..total. */
  step: number;
  /** Items (images) processed in this step, for the throughput figure; default 0 (no throughput shown). */
  items?: number;
  /** Metrics to show, in order, e.g. {loss: 0.42, acc: 0.87}; values in [0, 1] named acc/accuracy print as %. */
  metrics?: Record<string, number>;
}

/** Formats seconds as `1h02m`, `3m07s` or `12s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

function formatMetric(name: string, value: number): string {
  if (/^acc(uracy)?$/i.test(name) && value >= 0 && value <= 1) return `${name} ${(value * 100).toFixed(1)}%`;
  const magnitude = Math.abs(value);
  const text = magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e5) ? value.toExponential(2) : value.toFixed(4);
  return `${name} ${text}`;
}

/** A progress bar; call update() after each step and done() at the end. */
export class ProgressBar {
  private readonly total: number;
  private readonly startStep: number;
  private readonly stream: ProgressStream;
  private readonly every: number;
  private readonly label: string;
  private readonly unit: string;
  private readonly redrawMs: number;
  private readonly now: () => number;
  private readonly start: number;
  private items = 0;
  private lastDraw = -Infinity;
  private lastLength = 0;
  private lastLine = '';
  private finished = false;

  /** Starts the clock. */
  constructor(options: ProgressOptions) {
    if (!(Number.isInteger(options.total) && options.total > 0)) {
      throw new Error(`ProgressBar: total must be a positive integer, got ${options.total}`);
    }
    if (options.every !== undefined && !(Number.isInteger(options.every) && options.every > 0)) {
      throw new Error(`ProgressBar: every must be a positive integer, got ${options.every}`);
    }
    const startStep = options.start ?? 0;
    if (!(Number.isInteger(startStep) && startStep >= 0 && startStep <= options.total)) {
      throw new Error(`ProgressBar: start must be an integer in [0, total = ${options.total}], got ${options.start}`);
    }
    this.total = options.total;
    this.startStep = startStep;
    this.stream = options.stream ?? process.stderr;
    this.every = options.every ?? Math.max(1, Math.round(options.total / 10));
    this.label = options.label ?? '';
    this.unit = options.unit ?? 'img';
    this.redrawMs = options.redrawMs ?? 100;
    this.now = options.now ?? (() => performance.now());
    this.start = this.now();
  }

  /** Records a finished step and draws (in place on a TTY, every `every` steps elsewhere). */
  update(update: ProgressUpdate): void {
    if (this.finished) return;
    this.items += update.items ?? 0;
    const step = Math.min(Math.max(update.step, 0), this.total);
    const line = this.render(step, update.metrics ?? {});
    this.lastLine = line;
    const last = step === this.total;
    if (this.stream.isTTY) {
      const t = this.now();
      if (!last && t - this.lastDraw < this.redrawMs) return;
      this.lastDraw = t;
      const pad = this.lastLength > line.length ? ' '.repeat(this.lastLength - line.length) : '';
      this.stream.write(`\r${line}${pad}`);
      this.lastLength = line.length;
    } else if (last || step % this.every === 0) {
      this.stream.write(`${line}\n`);
    }
  }

  /** Ends the bar: on a TTY, moves to a new line. Safe to call more than once. */
  done(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.stream.isTTY && this.lastLength > 0) this.stream.write('\n');
  }

  /** The most recent rendered line (without control characters). */
  get line(): string {
    return this.lastLine;
  }

  /** The text for `step` done: label, counter, bar, metrics, throughput, elapsed or ETA (from the steps since start). */
  render(step: number, metrics: Record<string, number>): string {
    const elapsed = (this.now() - this.start) / 1000;
    const width = String(this.total).length;
    const parts: string[] = [];
    if (this.label) parts.push(this.label);
    const barWidth = this.stream.isTTY && (this.stream.columns ?? 80) < 100 ? 12 : 20;
    const filled = Math.round((step / this.total) * barWidth);
    parts.push(`${String(step).padStart(width)}/${this.total} [${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]`);
    for (const [name, value] of Object.entries(metrics)) parts.push(formatMetric(name, value));
    if (this.items > 0 && elapsed > 0) parts.push(`${Math.round(this.items / elapsed)} ${this.unit}/s`);
    if (step >= this.total) parts.push(`took ${formatDuration(elapsed)}`);
    else if (step > this.startStep) parts.push(`ETA ${formatDuration((elapsed / (step - this.startStep)) * (this.total - step))}`);
    return parts.join('  ');
  }
}
