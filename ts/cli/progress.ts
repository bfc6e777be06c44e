// SPDX-License-Identifier: MIT
// Progress of an attack run: a cli-progress bar with an ETA on a terminal, else one plain line per batch.
import { SingleBar } from 'cli-progress';

/** Where the attack stands; a unit of work is one optimizer step on one batch. */
export interface ProgressState {
  eps: number;
  /** 0-based position of eps in the --eps list. */
  epsIndex: number;
  epsCount: number;
  /** 0-based batch number within this eps. */
  batchIndex: number;
  batches: number;
  unitsDone: number;
}

/** After a batch: what the plain progress line reports. */
export interface BatchSummary extends ProgressState {
  samplesDone: number;
  samples: number;
  /** Robust samples among those done so far for this eps. */
  robustSoFar: number;
}

export interface ProgressReporter {
  /** Optimizer steps were taken (called often: the reporter throttles). */
  update(state: ProgressState): void;
  batchDone(summary: BatchSummary): void;
  stop(): void;
}

/** Seconds as '42s', '3m05s' or '1h02m'. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** The interactive bar (stdout is a terminal). */
class BarReporter implements ProgressReporter {
  private readonly bar: SingleBar;

  constructor(totalUnits: number, stream: NodeJS.WriteStream, first: ProgressState) {
    this.bar = new SingleBar({
      format: 'attack |{bar}| {percentage}% | eps {eps} ({epsNumber}/{epsCount}) batch {batchNumber}/{batches} | ETA {eta_formatted} | elapsed {duration_formatted}',
      stream,
      hideCursor: true,
      clearOnComplete: true,
      barsize: 30,
      etaBuffer: 50,
      barCompleteChar: '\u2588',
      barIncompleteChar: '\u2591',
    });
    this.bar.start(totalUnits, 0, BarReporter.payload(first));
  }

  /** The bar's placeholders other than cli-progress's own. */
  private static payload(state: ProgressState) {
    return { eps: state.eps, epsNumber: state.epsIndex + 1, epsCount: state.epsCount, batchNumber: state.batchIndex + 1, batches: state.batches };
  }

  update(state: ProgressState): void {
    this.bar.update(state.unitsDone, BarReporter.payload(state));
  }

  batchDone(summary: BatchSummary): void {
    this.update(summary);
  }

  stop(): void {
    this.bar.stop();
  }
}

/** One line per finished batch (stdout is a file or a pipe), with its own ETA. */
class LineReporter implements ProgressReporter {
  private readonly startedAt = Date.now();

  constructor(
    private readonly totalUnits: number,
    private readonly stream: NodeJS.WritableStream,
  ) {}

  update(): void {
    // Per-step updates would flood a log: only batches are reported.
  }

  batchDone(s: BatchSummary): void {
    const elapsed = (Date.now() - this.startedAt) / 1000;
    const eta = s.unitsDone > 0 ? (elapsed * (this.totalUnits - s.unitsDone)) / s.unitsDone : NaN;
    const percent = ((100 * s.unitsDone) / this.totalUnits).toFixed(0).padStart(3);
    const robust = s.samplesDone > 0 ? ((100 * s.robustSoFar) / s.samplesDone).toFixed(1) : '-';
    this.stream.write(
      `[${percent}%] eps ${s.eps} (${s.epsIndex + 1}/${s.epsCount}) batch ${s.batchIndex + 1}/${s.batches}: ` +
        `${s.samplesDone}/${s.samples} samples, robust so far ${robust}%, elapsed ${formatDuration(elapsed)}, ETA ${formatDuration(eta)}\n`,
    );
  }

  stop(): void {}
}

/** The bar when `stream` is a terminal, plain lines otherwise; `first` is where the run starts. */
export function createProgressReporter(totalUnits: number, first: ProgressState, stream: NodeJS.WriteStream = process.stdout): ProgressReporter {
  return stream.isTTY ? new BarReporter(totalUnits, stream, first) : new LineReporter(totalUnits, stream);
}
