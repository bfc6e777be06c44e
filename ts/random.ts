// SPDX-License-Identifier: MIT
// Generator: the one seedable random source of lp-optim (TopQGradientOptimizer's
// dq > 0, the Lp-ball initialisations). xoshiro128** (Blackman and Vigna),
// seeded through splitmix32, in 32-bit integer arithmetic (Math.imul), so the
// same seed gives the same draws on every platform and backend.
import { show } from './errors';

function splitmix32(state: number): [number, number] {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [next, (z ^ (z >>> 16)) >>> 0];
}

export class Generator {
  private readonly s = new Uint32Array(4);

  /** @param seed a non-negative integer (up to 2^53 - 1) */
  constructor(seed: number) {
    if (typeof seed !== 'number' || !Number.isInteger(seed)) throw new TypeError(`Generator(seed): seed must be an integer, got ${show(seed)}`);
    if (seed < 0 || seed > Number.MAX_SAFE_INTEGER) throw new RangeError(`Generator(seed): seed must be in [0, 2^53 - 1], got ${seed}`);
    // Both halves of the seed feed the state, so seeds above 2^32 differ too.
    let st = (seed >>> 0) ^ Math.imul(Math.floor(seed / 4294967296), 0x632be59b);
    for (let i = 0; i < 4; i++) {
      const [next, out] = splitmix32(st);
      st = next;
      this.s[i] = out;
    }
    if (this.s.every((w) => w === 0)) this.s[0] = 1; // the all-zero state is a fixed point
  }

  /**
   * A copy of the state (four 32-bit words), as torch.Generator.get_state():
   * setState() of it later repeats the draws from here on, which resuming a
   * checkpointed run that draws (TopQGradientOptimizer's dq) needs.
   */
  getState(): Uint32Array {
    return this.s.slice();
  }

  /** Restores a state from getState() (a Uint32Array of 4 words, or an array of 4 such integers; not all 0). */
  setState(state: Uint32Array | readonly number[]): void {
    if (!(state instanceof Uint32Array) && !Array.isArray(state)) {
      throw new TypeError(`Generator.setState(state): state must be a Uint32Array of 4 words (from getState()), got ${show(state)}`);
    }
    if (state.length !== 4) throw new RangeError(`Generator.setState(state): state must hold 4 words, got ${state.length}`);
    for (let i = 0; i < 4; i++) {
      const w = state[i];
      if (typeof w !== 'number') throw new TypeError(`Generator.setState(state): state[${i}] must be an integer, got ${show(w)}`);
      if (!Number.isInteger(w) || w < 0 || w > 0xffffffff) throw new RangeError(`Generator.setState(state): state[${i}] must be an integer in [0, 2^32 - 1], got ${show(w)}`);
    }
    if (Array.prototype.every.call(state, (w: number) => w === 0)) throw new RangeError('Generator.setState(state): the all-zero state is not a state (the generator would only return 0)');
    this.s.set(state);
  }

  /** The next 32 random bits, as an unsigned integer. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(((Math.imul(s[1], 5) << 7) | (Math.imul(s[1], 5) >>> 25)) >>> 0, 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 11) | (s[3] >>> 21);
    return result;
  }

  /** Uniform in [0, 1), with 53 random bits. */
  uniform(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Standard normal (Box-Muller on two uniform draws; V8's Math.log/cos/sqrt are the same on every platform). */
  normal(): number {
    const u1 = this.uniform();
    const u2 = this.uniform();
    return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
  }
}

/** The generator used when none is given (seeded with torch.default_generator's default seed). */
export const defaultGenerator = new Generator(67280421310721);
