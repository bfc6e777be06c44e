// SPDX-License-Identifier: MIT
// Entry point of the `lp-optim` command (bin/lp-optim.js): parses the arguments, runs `attack`, and maps every failure to an exit status and a one-line message.
import * as fs from 'fs';
import * as path from 'path';
import { CommanderError } from 'commander';
import { backendInfo, setBackend } from '../backend/loader';
import { readImages, readLabels } from './npy';
import { AttackConfig, buildProgram } from './options';
import { createProgressReporter, formatDuration } from './progress';
import { AttackReport, formatTable, reportSettings, writeReport } from './report';
import { evaluateClean, runAttack, totalUnits } from './runAttack';
import { MissingDependencyError, checkModelAgainstImages, loadLayersModelFromDisk, loadTfjs } from './tfModel';
import { EXIT_FAILURE, EXIT_USAGE, UsageError, oneLine } from './usageError';

/** lp-optim's version, from its package.json (two levels up from both ts/cli and dist/cli). */
function packageVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** Fails early (before any work) when --out exists and is not a directory. */
function checkOutDir(outDir: string): void {
  if (fs.existsSync(outDir) && !fs.statSync(outDir).isDirectory()) throw new UsageError(`--out ${outDir}: exists and is not a directory`);
}

/** `lp-optim attack`: everything after the arguments are checked. */
async function attack(config: AttackConfig, stdout: NodeJS.WriteStream): Promise<void> {
  checkOutDir(config.outDir);
  if (config.backend) {
    try {
      setBackend(config.backend);
    } catch (e) {
      throw new UsageError(`--backend ${config.backend}: cannot be loaded here (${(e as Error).message})`);
    }
  }

  const images = readImages(config.imagesPath, config.dataRange);
  const n = images.shape[0];
  const labels = readLabels(config.labelsPath, n);
  const { tf, backend: tfBackend } = await loadTfjs(config.tfBackend);
  const model = await loadLayersModelFromDisk(tf, config.modelPath);
  const classes = checkModelAgainstImages(tf, model, config.modelPath, images.shape.slice(1));
  const tooLarge = labels.findIndex((label) => label >= classes);
  if (tooLarge >= 0) throw new UsageError(`--labels ${config.labelsPath}: label ${tooLarge} is ${labels[tooLarge]}, but the model has ${classes} classes`);

  const clean = evaluateClean(tf, model, images, labels, config.batchSize);
  const first = { eps: config.epsilons[0], epsIndex: 0, epsCount: config.epsilons.length, batchIndex: 0, batches: Math.ceil(n / config.batchSize), unitsDone: 0 };
  const progress = createProgressReporter(totalUnits(config, n), first, stdout);
  let results;
  try {
    results = runAttack(tf, model, config, images, labels, classes, clean, progress);
  } finally {
    progress.stop();
  }

  const report: AttackReport = {
    tool: 'lp-optim attack',
    version: packageVersion(),
    createdAt: new Date().toISOString(),
    model: path.resolve(config.modelPath),
    images: path.resolve(config.imagesPath),
    labels: path.resolve(config.labelsPath),
    samples: n,
    classes,
    ...reportSettings(config),
    backend: { backend: backendInfo().backend, isa: backendInfo().isa },
    tfBackend,
    cleanAccuracy: clean.accuracy,
    results,
  };
  const written = await writeReport(config.outDir, report);
  const seconds = clean.seconds + results.reduce((sum, r) => sum + r.seconds, 0);
  stdout.write(`\n${formatTable(report)}\nTotal time ${formatDuration(seconds)} (the model on TensorFlow.js's ${tfBackend} backend). Wrote ${written.json} and ${written.svg}\n`);
}

/**
 * Runs the command line `argv` (without node and the script) and resolves to
 * the exit status: 0 on success, 2 for bad arguments or files, 1 otherwise.
 */
export async function main(
  argv: string[],
  io: { stdout: NodeJS.WriteStream; stderr: NodeJS.WritableStream } = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  // The attack command's action stores its checked options here; --help and --version leave it empty.
  const parsed: { config?: AttackConfig } = {};
  try {
    const program = buildProgram((checked) => {
      parsed.config = checked;
    }, packageVersion());
    await program.parseAsync(argv, { from: 'user' });
    if (!parsed.config) return 0;
    await attack(parsed.config, io.stdout);
    return 0;
  } catch (e) {
    // commander has printed its own message (or the help / version) already.
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : EXIT_USAGE;
    if (e instanceof UsageError) {
      io.stderr.write(`lp-optim attack: error: ${e.message}\n`);
      return EXIT_USAGE;
    }
    if (e instanceof MissingDependencyError) {
      io.stderr.write(`lp-optim attack: error: ${e.message}\n`);
      return EXIT_FAILURE;
    }
    const message = e instanceof Error ? e.message : String(e);
    if (process.env.LP_OPTIM_DEBUG && e instanceof Error) io.stderr.write(`${e.stack}\n`);
    else io.stderr.write(`lp-optim attack: internal error: ${oneLine(message)} (set LP_OPTIM_DEBUG=1 for the stack trace)\n`);
    return EXIT_FAILURE;
  }
}
