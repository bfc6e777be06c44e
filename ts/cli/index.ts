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

/**
 * Makes --out (and its missing parents) before any work, so that a folder
 * that cannot be made fails at once as a usage error, not after the attack;
 * returns the folders it made, deepest last. One level at a time: Node's
 * recursive mkdirSync never returns for a path under /proc.
 */
function makeOutDir(outDir: string): string[] {
  const fail = (why: string): never => {
    throw new UsageError(`--out ${outDir}: ${why}`);
  };
  const missing: string[] = [];
  let existing = path.resolve(outDir);
  while (!fs.existsSync(existing)) {
    missing.unshift(existing);
    existing = path.dirname(existing);
  }
  if (!fs.statSync(existing).isDirectory()) fail(missing.length === 0 ? 'exists and is not a directory' : `${existing} is not a directory`);
  const made: string[] = [];
  for (const dir of missing) {
    try {
      fs.mkdirSync(dir);
    } catch (e) {
      removeEmptyDirs(made);
      fail(`cannot create ${dir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    made.push(dir);
  }
  try {
    fs.accessSync(path.resolve(outDir), fs.constants.W_OK);
  } catch {
    removeEmptyDirs(made);
    fail('is not writable');
  }
  return made;
}

/** Removes the folders makeOutDir made (deepest first), where they are still empty. */
function removeEmptyDirs(made: string[]): void {
  for (const dir of [...made].reverse()) {
    try {
      fs.rmdirSync(dir);
    } catch {
      // not empty, or gone: leave it
    }
  }
}

/** `lp-optim attack`: everything after the arguments are checked. */
async function attack(config: AttackConfig, stdout: NodeJS.WriteStream): Promise<void> {
  const madeDirs = makeOutDir(config.outDir);
  try {
    await attackInto(config, stdout);
  } catch (e) {
    removeEmptyDirs(madeDirs); // a failed run leaves no empty folder behind
    throw e;
  }
}

async function attackInto(config: AttackConfig, stdout: NodeJS.WriteStream): Promise<void> {
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
