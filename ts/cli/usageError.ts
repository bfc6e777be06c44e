// SPDX-License-Identifier: MIT
// UsageError: a bad argument or input file; the CLI prints its one-line message and exits with status 2.

/** Exit status for bad arguments or input files (as in most Unix tools). */
export const EXIT_USAGE = 2;
/** Exit status for anything else that went wrong (missing dependency, internal error). */
export const EXIT_FAILURE = 1;

export class UsageError extends Error {
  constructor(message: string) {
    super(oneLine(message));
    this.name = 'UsageError';
  }
}

/** Collapses a (possibly multi-line) message into one line. */
export function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, ' ').trim();
}
