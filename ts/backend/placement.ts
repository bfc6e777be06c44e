// SPDX-License-Identifier: MIT
// Where large arrays the kernels stream side by side (a parameter, its
// gradient, its optimizer state) start within a 4 KB page.
//
// Arrays that start at the same offset within a page meet in the same L1
// cache sets at every element of a sweep, and a load behind a store to
// another array at the same page offset can look dependent on it (4K
// aliasing). Large typed arrays all start at one page offset (the C
// library maps each at a page start plus its header), so by default every
// array of a step collides. Measured in Node on one thread (AMD Zen 4),
// ResNet-18's 4608-element rows with SGD and momentum: 1.30x the memory
// floor with parameter, gradient and momentum at one page offset, 1.14x
// spread over the page; with Adam 1.49x and 1.17x.

/** A page. */
export const PAGE_BYTES = 4096;

/** A cache line: arrays always start on the same offset within one as the parameter they go with (or on a line start). */
export const LINE_BYTES = 64;

/**
 * Below this size an array's page offset is left alone: it fits the caches,
 * and the page of slack would cost more memory than the spread saves time.
 */
const SPREAD_MIN_BYTES = 64 * 1024;

/**
 * The bytes an allocation of `bytes` needs beyond them to start where it
 * should: a page if large enough to be spread over one, else a line.
 */
export function slackFor(bytes: number): number {
  return bytes >= SPREAD_MIN_BYTES ? PAGE_BYTES : LINE_BYTES;
}

/**
 * The offset within a page, `lineOffset` past a line start, that is
 * farthest (going round the page) from every offset in `taken`; the first
 * such offset when several are. `lineOffset` alone when nothing is taken.
 */
export function farthestPageOffset(taken: readonly number[], lineOffset: number): number {
  if (taken.length === 0) return lineOffset;
  let best = lineOffset;
  let bestDistance = -1;
  for (let candidate = lineOffset; candidate < PAGE_BYTES; candidate += LINE_BYTES) {
    let distance = PAGE_BYTES;
    for (const t of taken) {
      const gap = (((candidate - t) % PAGE_BYTES) + PAGE_BYTES) % PAGE_BYTES;
      distance = Math.min(distance, gap, PAGE_BYTES - gap);
    }
    if (distance > bestDistance) {
      bestDistance = distance;
      best = candidate;
    }
  }
  return best;
}

/**
 * Where a state buffer of `bytes` goes beside the arrays a kernel streams with
 * it, given their page offsets (its parameter's first; -1 where not known): the
 * slack to allocate it with, and the offset past a multiple of that slack to
 * start at. On the parameter's offset within a line and, if large, at the
 * page offset farthest from theirs.
 */
export function statePlacement(pageOffsets: readonly number[], bytes: number): { slack: number; want: number } {
  const lineOffset = pageOffsets.length > 0 && pageOffsets[0] >= 0 ? pageOffsets[0] % LINE_BYTES : 0;
  const slack = slackFor(bytes);
  const want = slack === PAGE_BYTES ? farthestPageOffset(pageOffsets.filter((at) => at >= 0), lineOffset) : lineOffset;
  return { slack, want };
}

/**
 * Page offsets for arrays allocArray gives out one after another (a
 * tensor's data, then its gradient, then the next tensor's...): halves,
 * then quarters, then eighths of the page, so that neighbours in that
 * sequence are far apart.
 */
const ROTATION = [0, 2048, 1024, 3072, 512, 2560, 1536, 3584];

/** The page offsets of successive allocations, cycling through ROTATION. */
export class PageRotation {
  private next = 0;

  /** The page offset for the next array. */
  take(): number {
    const offset = ROTATION[this.next];
    this.next = (this.next + 1) % ROTATION.length;
    return offset;
  }
}
