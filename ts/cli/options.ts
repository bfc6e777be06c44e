// SPDX-License-Identifier: MIT
// The options of `lp-optim attack`: the commander definition (with the --help text) and their checks.
import { Command, Option } from 'commander';
import type { TfBackendChoice } from './tfModel';
import { UsageError } from './usageError';

export type NormName = 'l1' | 'l2' | 'linf';
export const NORMS: readonly NormName[] = ['l1', 'l2', 'linf'];

/** The --eps values used when none are given: budgets of a sensible size for images in [0, 1]. */
export const DEFAULT_EPS: Readonly<Record<NormName, string>> = { l1: '5,10,20', l2: '0.25,0.5,1', linf: '0.01,0.03,0.1' };

/** Everything an attack run needs, checked. */
export interface AttackConfig {
  modelPath: string;
  imagesPath: string;
  labelsPath: string;
  norm: NormName;
  epsilons: number[];
  steps: number;
  /** The step size given with --lr; null: 2.5 * eps / steps for each eps. */
  lr: number | null;
  restarts: number;
  seed: number;
  dataRange: [number, number];
  batchSize: number;
  earlyStop: boolean;
  targeted: boolean;
  outDir: string;
  /** The lp-optim backend asked for with --backend; null: the automatic choice. */
  backend: 'native' | 'wasm' | null;
  /** The TensorFlow.js backend that runs the model (--tf-backend). */
  tfBackend: TfBackendChoice;
}

/** The raw option values as commander hands them over (strings, and booleans for the flags). */
interface RawAttackOptions {
  model: string;
  images: string;
  labels: string;
  norm: NormName;
  eps?: string;
  steps: string;
  lr?: string;
  restarts: string;
  seed: string;
  dataRange: string;
  batchSize: string;
  earlyStop: boolean;
  targeted: boolean;
  out: string;
  backend?: 'native' | 'wasm';
  tfBackend: TfBackendChoice;
}

const HELP_NOTES = `
Norms and optimizers (rai_toolbox's Lp-space family):
  l2    L2ProjectedOptim: steps along the L2-normalised gradient, then each
        sample's perturbation is projected into the L2 ball of radius eps.
  linf  LinfProjectedOptim: steps along the gradient's sign, then each
        element of the perturbation is clamped to [-eps, eps].
  l1    L1qNormedGradientOptim with q = 0.9: sign steps on the 10% of
        elements with the largest gradient, normalised to L1 norm lr; then
        each sample's perturbation is projected onto the L1 ball of radius eps.
  Every step also clamps data + perturbation into --data-range, which keeps
  the perturbation inside its ball.

Inputs:
  --images  .npy of float32 (or float64) values [N, ...], or uint8 read as value / 255.
  --labels  .npy of N integer class indices.
  --model   model.json of a TensorFlow.js layers model whose input is one
            sample shape of --images and whose output is logits [N, classes];
            its weight files are looked up next to model.json.

The attack maximises each sample's softmax cross-entropy (untargeted), or with
--targeted minimises it towards the target class (label + 1) % classes.
A sample counts as robust when the model classifies it correctly both clean
and after the attack; robust accuracy is the share of robust samples.

Outputs (in --out): report.json (settings, and per eps: robust and clean
accuracy, mean loss, time, and per sample: index, label, cleanPrediction,
adversarialPrediction, loss, success) and report.svg (robust accuracy against
eps). A progress bar shows on a terminal, one line per batch otherwise.

Exit status: 0 on success, 2 for bad arguments or input files, 1 otherwise.

Example:
  lp-optim attack --model models/fashion-mnist/model.json \\
    --images data/fashion-mnist/test-images.npy --labels data/fashion-mnist/test-labels.npy \\
    --norm l2 --eps 0.25,0.5,1 --steps 20`;

/**
 * Builds the `lp-optim` program with its `attack` command. `onAttack`
 * receives the checked configuration; commander's own errors and --help go
 * through exitOverride (the caller turns them into an exit status).
 */
export function buildProgram(onAttack: (config: AttackConfig) => void, version: string): Command {
  const program = new Command('lp-optim')
    .description("rai_toolbox's Lp-space optimizers for Node.js: command-line tools")
    .version(version, '-V, --version', 'print the version of lp-optim')
    .exitOverride()
    .showSuggestionAfterError(true);

  program
    .command('attack')
    .description('Projected-gradient adversarial attack on a TensorFlow.js classifier: robust accuracy per epsilon')
    .requiredOption('--model <path>', 'model.json of a TensorFlow.js layers model (weights next to it) (required)')
    .requiredOption('--images <file.npy>', 'images [N, ...]: float32 values, or uint8 read as value/255 (required)')
    .requiredOption('--labels <file.npy>', 'integer class labels [N] (required)')
    .addOption(new Option('--norm <norm>', 'the perturbation budget\'s norm').choices([...NORMS]).default('l2'))
    .option(
      '--eps <list>',
      `comma-separated budgets (radii), one attack per value (default: by norm: l1 ${DEFAULT_EPS.l1}; l2 ${DEFAULT_EPS.l2}; linf ${DEFAULT_EPS.linf})`,
    )
    .option('--steps <n>', 'optimizer steps per attack', '20')
    .option('--lr <x>', "step size: each step's length in the norm's own measure (default: 2.5 * eps / steps, for each eps)")
    .option('--restarts <n>', 'attacks per sample; with more than 1, each starts at a random point of the eps-ball and the strongest is kept', '1')
    .option('--seed <n>', 'seed of the random starts (with --restarts > 1)', '0')
    .option('--data-range <lo,hi>', 'range every perturbed input is clamped into', '0,1')
    .option('--batch-size <n>', 'samples per batch (one model call per step)', '100')
    .option('--early-stop', 'stop attacking a sample once it is misclassified (or reaches its target)', false)
    .option('--targeted', 'targeted attack towards class (label + 1) % classes (off: untargeted)', false)
    .option('--out <dir>', 'directory for report.json and report.svg', './lp-optim-report')
    .addOption(new Option('--backend <name>', "lp-optim's compute backend (default: native if it loads, else wasm)").choices(['native', 'wasm']))
    .addOption(
      new Option('--tf-backend <name>', "TensorFlow.js backend that runs the model: wasm (@tensorflow/tfjs-backend-wasm, several times faster), cpu (plain JavaScript), auto (wasm if installed, else cpu)")
        .choices(['auto', 'wasm', 'cpu'])
        .default('auto'),
    )
    .allowExcessArguments(false) // a stray word (a value without its option) is an error, not ignored
    .addHelpText('after', HELP_NOTES)
    .action((raw: RawAttackOptions) => onAttack(checkAttackOptions(raw)));

  return program;
}

/** Turns commander's raw strings into a checked AttackConfig; a bad value throws a UsageError naming the option. */
export function checkAttackOptions(raw: RawAttackOptions): AttackConfig {
  const steps = parseInteger('--steps', raw.steps, 1);
  const epsilons = parseEpsilons(raw.eps ?? DEFAULT_EPS[raw.norm]);
  const lr = raw.lr === undefined ? null : parsePositive('--lr', raw.lr);
  const dataRange = parseDataRange(raw.dataRange);
  return {
    modelPath: raw.model,
    imagesPath: raw.images,
    labelsPath: raw.labels,
    norm: raw.norm,
    epsilons,
    steps,
    lr,
    restarts: parseInteger('--restarts', raw.restarts, 1),
    seed: parseInteger('--seed', raw.seed, 0),
    dataRange,
    batchSize: parseInteger('--batch-size', raw.batchSize, 1),
    earlyStop: raw.earlyStop === true,
    targeted: raw.targeted === true,
    outDir: raw.out,
    backend: raw.backend ?? null,
    tfBackend: raw.tfBackend,
  };
}

/** A number written in full (no empty string, no trailing junk: Number('') is 0, parseFloat('1x') is 1). */
function parseNumber(text: string): number {
  const trimmed = text.trim();
  return trimmed === '' ? NaN : Number(trimmed);
}

function parseInteger(option: string, text: string, min: number): number {
  const value = parseNumber(text);
  if (!Number.isSafeInteger(value) || value < min) throw new UsageError(`${option} must be an integer >= ${min}, got '${text}'`);
  return value;
}

function parsePositive(option: string, text: string): number {
  const value = parseNumber(text);
  if (!Number.isFinite(value) || value <= 0) throw new UsageError(`${option} must be a number > 0, got '${text}'`);
  return value;
}

function parseEpsilons(text: string): number[] {
  const parts = text.split(',');
  if (parts.every((p) => p.trim() === '')) throw new UsageError(`--eps must list at least one number > 0, got '${text}'`);
  return parts.map((part) => {
    const value = parseNumber(part);
    if (!Number.isFinite(value) || value <= 0) throw new UsageError(`--eps values must be numbers > 0, got '${part.trim()}' in '${text}'`);
    return value;
  });
}

function parseDataRange(text: string): [number, number] {
  const parts = text.split(',').map(parseNumber);
  if (parts.length !== 2 || !parts.every(Number.isFinite) || !(parts[0] < parts[1])) {
    throw new UsageError(`--data-range must be two numbers lo,hi with lo < hi, got '${text}'`);
  }
  return [parts[0], parts[1]];
}
