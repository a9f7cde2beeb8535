/**
 * Seeded pseudo-random numbers for the data pipeline. Everything random in data/ (shuffling, crop boxes, flips,
 * augmentation choices) draws from an {@link Rng} whose seed is derived from explicit integers (the run seed, the
 * epoch, the sample's index), never from global state, so that the same seed gives the same draws whichever worker
 * thread processes a sample and in whatever order.
 */

/** Mixes a 32-bit state into a well-distributed 32-bit value (the finaliser of splitmix32 / murmur3). */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * Derives one 32-bit seed from a sequence of integers (e.g. `deriveSeed(runSeed, epoch, sampleIndex)`). Different
 * sequences give unrelated seeds; the same sequence always gives the same seed. Each part must be a safe integer.
 */
export function deriveSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const part of parts) {
    if (!Number.isSafeInteger(part)) throw new Error(`deriveSeed: part ${part} is not a safe integer; pass integer seeds, epochs and indices`);
    const lo = part >>> 0;
    const hi = Math.floor(part / 4294967296) >>> 0;
    h = mix32((h + Math.imul(lo ^ 0x7f4a7c15, 0x27d4eb2d)) >>> 0);
    h = mix32((h + Math.imul(hi ^ 0x165667b1, 0x27d4eb2d) + 0x632be5ab) >>> 0);
  }
  return h;
}

/**
 * A small, fast, seedable generator (sfc32, seeded through splitmix32). Not cryptographic. Draws are exactly
 * reproducible across platforms because they use only 32-bit integer arithmetic.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** @param seed any integer; two generators with the same seed produce the same sequence */
  constructor(seed: number) {
    let s = deriveSeed(seed);
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      return mix32(s);
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** The generator's whole state (four 32-bit words), to store and continue the same sequence later. */
  state(): [number, number, number, number] {
    // `a` comes out of an XOR as a signed 32-bit value; the same word as unsigned gives the same sequence.
    return [this.a >>> 0, this.b >>> 0, this.c >>> 0, this.d >>> 0];
  }

  /**
   * A generator that continues from `state` (what {@link state} returned).
   * @throws for anything but four unsigned 32-bit integers
   */
  static fromState(state: readonly number[]): Rng {
    if (state.length !== 4 || !state.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffffffff)) {
      throw new Error(`Rng.fromState: expected four unsigned 32-bit integers, got ${JSON.stringify(state)}`);
    }
    const rng = new Rng(0);
    [rng.a, rng.b, rng.c, rng.d] = state as [number, number, number, number];
    return rng;
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  nextUint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** A uniform double in [0, 1) with 53 random bits. */
  next(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** A uniform double in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** A uniform integer in [0, n) (n a positive integer below 2^53). */
  int(n: number): number {
    if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`Rng.int: n must be a positive integer, got ${n}`);
    return Math.floor(this.next() * n);
  }

  /** A uniform integer in [low, high) (torch.randint(low, high) semantics). */
  intRange(low: number, high: number): number {
    return low + this.int(high - low);
  }
}

/** A uniformly random permutation of 0..n-1 (Fisher-Yates) drawn from `rng`. */
export function permutation(n: number, rng: Rng): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}
