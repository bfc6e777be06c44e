// SPDX-License-Identifier: MIT
// `lp-optim attack` as a user runs it (node bin/lp-optim.js against the built dist/): --help, small attacks and their reports, and each bad input's exit status 2 and message.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { parse as parseNpy } from 'npyjs';
import { Tensor } from '../ts';
import { L1qProjectedOptim, projectOntoL1Ball } from '../ts/cli/l1Projected';

const root = path.join(__dirname, '..');
const bin = path.join(root, 'bin', 'lp-optim.js');
const realModel = path.join(root, 'models', 'fashion-mnist', 'model.json');
const realImages = path.join(root, 'data', 'fashion-mnist', 'test-images.npy');
const realLabels = path.join(root, 'data', 'fashion-mnist', 'test-labels.npy');

/** Runs the CLI (with node's `preload` module first, if given); stdout is a pipe here, so progress comes as plain lines. */
function runCli(args: string[], preload?: string) {
  const r = spawnSync(process.execPath, [...(preload ? ['--require', preload] : []), bin, ...args], { cwd: root, encoding: 'utf8', timeout: 50000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Whether @tensorflow/tfjs-backend-wasm (an optional peer; a devDependency here) is installed. */
const tfWasmInstalled = (() => {
  try {
    require.resolve('@tensorflow/tfjs-backend-wasm', { paths: [root] });
    return true;
  } catch {
    return false;
  }
})();

/** Runs the CLI into a pipe whose reader exits at once (as `| true` does). */
function runCliIntoClosedPipe(args: string[]) {
  const command = [process.execPath, bin, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  return spawnSync('sh', ['-c', `${command} | true`], { cwd: root, encoding: 'utf8', timeout: 50000 });
}

/** Writes a little-endian, C-order .npy file (format 1.0). */
function writeNpy(file: string, descr: '<f4' | '|u1' | '<i8' | '<i4', shape: number[], values: ArrayLike<number>): void {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n'; // data starts at a multiple of 64 bytes
  const prefix = Buffer.alloc(10);
  prefix.write('\x93NUMPY', 0, 'latin1');
  prefix[6] = 1;
  prefix.writeUInt16LE(header.length, 8);
  let body: Buffer;
  if (descr === '<f4') body = Buffer.from(Float32Array.from(values).buffer);
  else if (descr === '|u1') body = Buffer.from(Uint8Array.from(values).buffer);
  else if (descr === '<i4') body = Buffer.from(Int32Array.from(values).buffer);
  else body = Buffer.from(BigInt64Array.from(Array.from(values, (v) => BigInt(v))).buffer);
  fs.writeFileSync(file, Buffer.concat([prefix, Buffer.from(header, 'latin1'), body]));
}

/** Saves a tfjs layers model as model.json + weights.bin in `dir`, as tf.LayersModel.save('file://...') would. */
async function saveModel(model: tf.LayersModel, dir: string): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const data = artifacts.weightData!;
      const parts = Array.isArray(data) ? data : [data];
      fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.concat(parts.map((p) => Buffer.from(p))));
      const json = { format: 'layers-model', modelTopology: artifacts.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }] };
      fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return path.join(dir, 'model.json');
}

/** A deterministic stream in [0, 1) for the synthetic data. */
function lcg(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
}

/**
 * The small stand-in for the Fashion-MNIST model while it is not there: 3
 * classes of 6x6 images (a bright left, middle or right band) and a linear
 * classifier on those bands.
 */
async function syntheticFixture(dir: string, count: number) {
  const side = 6;
  const classes = 3;
  const band = (c: number, col: number) => (Math.floor(col / 2) === c ? 1 : 0);
  const random = lcg(7);
  const labels = Array.from({ length: count }, (_, i) => i % classes);
  const images = new Float32Array(count * side * side);
  labels.forEach((c, i) => {
    for (let r = 0; r < side; r++) {
      for (let col = 0; col < side; col++) images[(i * side + r) * side + col] = 0.4 + 0.2 * band(c, col) + 0.1 * (random() - 0.5);
    }
  });
  const kernel = new Float32Array(side * side * classes);
  for (let r = 0; r < side; r++) {
    for (let col = 0; col < side; col++) for (let c = 0; c < classes; c++) kernel[(r * side + col) * classes + c] = band(c, col) - 1 / classes;
  }
  const model = tf.sequential();
  model.add(tf.layers.flatten({ inputShape: [side, side, 1] }));
  model.add(tf.layers.dense({ units: classes }));
  model.layers[1].setWeights([tf.tensor2d(kernel, [side * side, classes]), tf.zeros([classes])]);
  return { modelPath: await saveModel(model, path.join(dir, 'model')), images, labels, shape: [count, side, side, 1] };
}

/** The first `count` Fashion-MNIST test samples, as the uint8 and int files the CLI reads. */
function realSubset(count: number) {
  const images = parseNpy(new Uint8Array(fs.readFileSync(realImages)).buffer);
  const labels = parseNpy(new Uint8Array(fs.readFileSync(realLabels)).buffer);
  const size = images.shape.slice(1).reduce((a, b) => a * b, 1);
  return {
    modelPath: realModel,
    images: Float32Array.from((images.data as Uint8Array).subarray(0, count * size), (v) => v / 255),
    labels: Array.from((labels.data as unknown as ArrayLike<number | bigint>), Number).slice(0, count),
    shape: [count, ...images.shape.slice(1)],
  };
}

const useRealModel = [realModel, realImages, realLabels].every((f) => fs.existsSync(f));
const SAMPLES = 20;
/** Two well-separated budgets per norm: the larger one must fool the model more often. */
const EPS = useRealModel ? { l1: '1,30', l2: '0.1,3', linf: '0.005,0.2' } : { l1: '0.5,12', l2: '0.1,2', linf: '0.01,0.3' };

let tmp: string;
let modelPath: string;
let imagesFile: string;
let labelsFile: string;
let sampleShape: number[];

/** Whether dist/ is older than some TypeScript source (tsc rewrites every output, so one output's time stands for all). */
function distIsStale(): boolean {
  const built = path.join(root, 'dist', 'cli', 'index.js');
  if (!fs.existsSync(built)) return true;
  const builtAt = fs.statSync(built).mtimeMs;
  const newest = (dir: string): number =>
    Math.max(0, ...fs.readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? newest(path.join(dir, e.name)) : fs.statSync(path.join(dir, e.name)).mtimeMs)));
  return newest(path.join(root, 'ts')) > builtAt;
}

beforeAll(async () => {
  // The CLI runs from dist/: build it when the sources are newer (scripts/test-all.js has built it already).
  if (distIsStale()) {
    const build = spawnSync('npm', ['run', '--silent', 'build:ts'], { cwd: root, encoding: 'utf8', shell: process.platform === 'win32' });
    if (build.status !== 0) throw new Error(`npm run build:ts failed:\n${build.stdout}${build.stderr}`);
  }

  await tf.setBackend('cpu');
  tf.enableProdMode();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lp-optim-cli-'));
  const fixture = useRealModel ? realSubset(SAMPLES) : await syntheticFixture(tmp, SAMPLES);
  modelPath = fixture.modelPath;
  sampleShape = fixture.shape.slice(1);
  imagesFile = path.join(tmp, 'images.npy');
  labelsFile = path.join(tmp, 'labels.npy');
  writeNpy(imagesFile, '<f4', fixture.shape, fixture.images);
  writeNpy(labelsFile, '<i8', [SAMPLES], fixture.labels);
}, 60000);

afterAll(() => {
  // LP_OPTIM_KEEP_CLI_TMP=1 keeps the fixtures and reports for a look.
  if (tmp && !process.env.LP_OPTIM_KEEP_CLI_TMP) fs.rmSync(tmp, { recursive: true, force: true });
});

const OPTIONS = ['--model', '--images', '--labels', '--norm', '--eps', '--steps', '--lr', '--restarts', '--seed', '--data-range', '--batch-size', '--early-stop', '--targeted', '--out', '--backend', '--tf-backend'];

test('output into a pipe whose reader has gone (lp-optim attack --help | head) ends quietly', () => {
  for (const args of [['attack', '--help'], ['--help'], ['--version']]) {
    expect(runCliIntoClosedPipe(args).stderr).toBe('');
  }
});

test('--help exits 0 and documents every option with its default', () => {
  const r = runCli(['attack', '--help']);
  expect(r.status).toBe(0);
  for (const option of OPTIONS) expect(r.stdout).toContain(option);
  const help = r.stdout.replace(/\s+/g, ' '); // commander wraps long descriptions
  for (const text of ['default: "l2"', 'default: "20"', '2.5 * eps / steps', 'default: "1"', 'default: "0"', 'default: "0,1"', 'default: "100"', 'default: "./lp-optim-report"', '(label + 1) % classes', 'default: "auto"']) {
    expect(help).toContain(text);
  }
  // The command itself is listed by the top-level help.
  expect(runCli(['--help']).stdout).toContain('attack');
});

interface Report {
  norm: string;
  backend: { backend: string };
  tfBackend: string;
  samples: number;
  cleanAccuracy: number;
  results: {
    eps: number;
    norm: string;
    robustAccuracy: number;
    cleanAccuracy: number;
    samples: { index: number; label: number; cleanPrediction: number; adversarialPrediction: number; loss: number; success: boolean }[];
  }[];
}

describe.each([
  ['l2', []],
  ['linf', ['--restarts', '2', '--early-stop', '--backend', 'wasm', '--tf-backend', 'cpu']],
])('a small %s attack (20 samples, 2 eps, 3 steps)', (norm, extra) => {
  let run: ReturnType<typeof runCli>;
  let outDir: string;
  beforeAll(() => {
    outDir = path.join(tmp, `report-${norm}`);
    const eps = EPS[norm as 'l2' | 'linf'];
    run = runCli(['attack', '--model', modelPath, '--images', imagesFile, '--labels', labelsFile, '--norm', norm, '--eps', eps, '--steps', '3', '--batch-size', '10', '--out', outDir, ...extra]);
  });

  test('exits 0, with one progress line per batch and eps, then the table', () => {
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout.match(/^\[ *\d+%\] eps .* batch \d\/2: .*ETA/gm)).toHaveLength(4);
    expect(run.stdout).toMatch(/eps +clean acc +robust acc +success +mean loss +time/);
    expect(run.stdout).toContain(`${norm} attack`);
  });

  test('report.json: per eps the accuracies, per sample the predictions, loss and success', () => {
    const report = JSON.parse(fs.readFileSync(path.join(outDir, 'report.json'), 'utf8')) as Report;
    expect(report.norm).toBe(norm);
    if (extra.includes('--backend')) expect(report.backend.backend).toBe('wasm');
    // --tf-backend auto takes TensorFlow.js's wasm backend where it is installed.
    expect(report.tfBackend).toBe(extra.includes('--tf-backend') ? 'cpu' : tfWasmInstalled ? 'wasm' : 'cpu');
    expect(run.stdout).toContain(`the model on TensorFlow.js's ${report.tfBackend} backend`);
    expect(report.samples).toBe(SAMPLES);
    expect(report.results.map((r) => r.eps)).toEqual(EPS[norm as 'l2' | 'linf'].split(',').map(Number));
    for (const r of report.results) {
      expect(r.norm).toBe(norm);
      expect(r.cleanAccuracy).toBe(report.cleanAccuracy);
      expect(r.robustAccuracy).toBeGreaterThanOrEqual(0);
      expect(r.robustAccuracy).toBeLessThanOrEqual(r.cleanAccuracy);
      expect(r.samples).toHaveLength(SAMPLES);
      expect(r.samples.map((s) => s.index)).toEqual([...Array(SAMPLES).keys()]);
      for (const s of r.samples) {
        expect(Number.isInteger(s.cleanPrediction) && Number.isInteger(s.adversarialPrediction)).toBe(true);
        expect(Number.isFinite(s.loss)).toBe(true);
        expect(s.success).toBe(s.adversarialPrediction !== s.label);
      }
      // Robust accuracy counts the samples classified correctly before and after the attack.
      const robust = r.samples.filter((s) => s.cleanPrediction === s.label && s.adversarialPrediction === s.label).length;
      expect(r.robustAccuracy).toBeCloseTo(robust / SAMPLES, 10);
    }
    expect(report.cleanAccuracy).toBeGreaterThan(0.5);
    // A larger budget never helps the model, and the large one does fool it.
    expect(report.results[1].robustAccuracy).toBeLessThanOrEqual(report.results[0].robustAccuracy);
    expect(report.results[1].robustAccuracy).toBeLessThan(report.cleanAccuracy);
  });

  test('report.svg: the robust-accuracy chart', () => {
    const svg = fs.readFileSync(path.join(outDir, 'report.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('robust accuracy');
    expect(svg).toContain('epsilon');
  });
});

describe("the model on TensorFlow.js's wasm backend or its cpu backend", () => {
  const attack = (tfBackend: string, outDir: string, preload?: string) =>
    runCli(['attack', '--model', modelPath, '--images', imagesFile, '--labels', labelsFile, '--norm', 'l2', '--eps', EPS.l2, '--steps', '3', '--out', outDir, '--tf-backend', tfBackend], preload);
  /** A module for node's --require that makes @tensorflow/tfjs-backend-wasm look uninstalled. */
  const hideTfWasm = () => {
    const file = path.join(tmp, 'hide-tfjs-backend-wasm.js');
    fs.writeFileSync(
      file,
      `const Module = require('module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === '@tensorflow/tfjs-backend-wasm') {
    const e = new Error("Cannot find module '@tensorflow/tfjs-backend-wasm'");
    e.code = 'MODULE_NOT_FOUND';
    throw e;
  }
  return resolve.call(this, request, ...rest);
};
`,
    );
    return file;
  };

  (tfWasmInstalled ? test : test.skip)(`give the same predictions and losses${tfWasmInstalled ? '' : ' (skipped: @tensorflow/tfjs-backend-wasm is not installed)'}`, () => {
    const reports = ['wasm', 'cpu'].map((tfBackend) => {
      const outDir = path.join(tmp, `report-tf-${tfBackend}`);
      const r = attack(tfBackend, outDir);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const report = JSON.parse(fs.readFileSync(path.join(outDir, 'report.json'), 'utf8')) as Report;
      expect(report.tfBackend).toBe(tfBackend);
      return report;
    });
    const [wasm, cpu] = reports;
    expect(wasm.cleanAccuracy).toBe(cpu.cleanAccuracy);
    wasm.results.forEach((result, e) => {
      result.samples.forEach((s, i) => {
        const other = cpu.results[e].samples[i];
        expect(s.cleanPrediction).toBe(other.cleanPrediction);
        expect(s.adversarialPrediction).toBe(other.adversarialPrediction);
        // The two sum in float32 in different orders (logits differ by about 1e-6).
        // Within the small budget the losses stay that close; with the large one,
        // normalising a confident sample's near-zero gradient magnifies the
        // difference into another direction, so only the predictions are compared.
        if (e === 0) expect(Math.abs(s.loss - other.loss)).toBeLessThanOrEqual(1e-4);
      });
    });
  });

  test('without @tensorflow/tfjs-backend-wasm: auto runs on cpu, and asking for wasm exits 1 saying what to install', () => {
    const hide = hideTfWasm();
    const outDir = path.join(tmp, 'report-tf-auto-cpu');
    const auto = attack('auto', outDir, hide);
    expect(auto.stderr).toBe('');
    expect(auto.status).toBe(0);
    expect((JSON.parse(fs.readFileSync(path.join(outDir, 'report.json'), 'utf8')) as Report).tfBackend).toBe('cpu');
    const wasm = attack('wasm', path.join(tmp, 'never'), hide);
    expect(wasm.status).toBe(1);
    expect(wasm.stderr).toMatch(/--tf-backend wasm needs @tensorflow\/tfjs-backend-wasm, which is not installed: run npm install @tensorflow\/tfjs-backend-wasm/);
    expect(wasm.stderr.trim().split('\n')).toHaveLength(1);
    expect(fs.existsSync(path.join(tmp, 'never'))).toBe(false);
  });
});

test('a targeted l1 attack aims at (label + 1) % classes and reaches it with the large budget', () => {
  const outDir = path.join(tmp, 'report-l1');
  const r = runCli(['attack', '--model', modelPath, '--images', imagesFile, '--labels', labelsFile, '--norm', 'l1', '--eps', EPS.l1, '--steps', '5', '--targeted', '--out', outDir]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const report = JSON.parse(fs.readFileSync(path.join(outDir, 'report.json'), 'utf8'));
  expect(report.targetRule).toBe('(label + 1) % classes');
  for (const result of report.results) {
    for (const s of result.samples) {
      expect(s.target).toBe((s.label + 1) % report.classes);
      expect(s.success).toBe(s.adversarialPrediction === s.target);
    }
  }
  // The large budget reaches the target for some samples.
  expect(report.results[1].samples.some((s: { success: boolean }) => s.success)).toBe(true);
});

(useRealModel ? test : test.skip)(`the shipped Fashion-MNIST files as they are: uint8 images, int64 labels, 1000 samples${useRealModel ? '' : ' (skipped: models/ or data/fashion-mnist/ is not in this checkout)'}`, () => {
  const outDir = path.join(tmp, 'report-shipped');
  const r = runCli(['attack', '--model', realModel, '--images', realImages, '--labels', realLabels, '--eps', '1', '--steps', '1', '--batch-size', '500', '--out', outDir]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const report = JSON.parse(fs.readFileSync(path.join(outDir, 'report.json'), 'utf8')) as Report;
  expect(report.samples).toBe(1000);
  expect(report.results[0].samples).toHaveLength(1000);
  expect(report.cleanAccuracy).toBeGreaterThan(0.8);
  expect(report.results[0].robustAccuracy).toBeLessThan(report.cleanAccuracy);
});

describe("--norm l1's projection onto the L1 ball", () => {
  const l1 = (row: ArrayLike<number>) => Array.from(row).reduce((sum, v) => sum + Math.abs(v), 0);

  test('is the closest point: soft-thresholding with L1 norm eps, rows inside left alone', () => {
    const random = lcg(3);
    for (let trial = 0; trial < 20; trial++) {
      const row = Float64Array.from({ length: 1 + (trial % 7) * 5 }, () => 4 * (random() - 0.5));
      const eps = 0.1 + 2 * random();
      const projected = row.slice();
      projectOntoL1Ball(projected, eps);
      if (l1(row) <= eps) {
        expect(Array.from(projected)).toEqual(Array.from(row));
        continue;
      }
      expect(l1(projected)).toBeCloseTo(eps, 10);
      // Optimality (KKT): every kept element shrank by the same theta, every zeroed one was at most theta.
      const shrinks = Array.from(row).flatMap((v, i) => (projected[i] !== 0 ? [Math.abs(v) - Math.abs(projected[i])] : []));
      const theta = shrinks[0];
      for (const d of shrinks) expect(d).toBeCloseTo(theta, 10);
      row.forEach((v, i) => {
        if (projected[i] === 0) expect(Math.abs(v)).toBeLessThanOrEqual(theta + 1e-12);
        else expect(Math.sign(projected[i])).toBe(Math.sign(v));
      });
    }
  });

  test('L1qProjectedOptim keeps each sample inside its own ball', () => {
    const delta = new Tensor(new Float32Array(2 * 10), [2, 10]);
    const optim = new L1qProjectedOptim([delta], { epsilon: 1.5, lr: 1, q: 0.8 });
    for (let step = 0; step < 5; step++) {
      delta.grad = Float32Array.from({ length: 20 }, (_, i) => Math.sin(i + step));
      optim.step();
    }
    expect(l1(delta.data.subarray(0, 10))).toBeCloseTo(1.5, 5);
    expect(l1(delta.data.subarray(10))).toBeCloseTo(1.5, 5);
  });
});

describe('bad inputs exit with status 2 and a one-line message naming the problem', () => {
  const good = () => ['--model', modelPath, '--images', imagesFile, '--labels', labelsFile, '--steps', '1'];
  /** Replaces the value of `option` in the good arguments. */
  const withOption = (option: string, value: string) => {
    const args = good();
    const at = args.indexOf(option);
    if (at >= 0) args[at + 1] = value;
    else args.push(option, value);
    return ['attack', ...args, '--out', path.join(tmp, 'never')];
  };
  const expectUsageError = (args: string[], message: RegExp) => {
    const r = runCli(args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(r.stdout).toBe('');
  };
  let extraFiles: Record<string, string>;

  beforeAll(async () => {
    const n = SAMPLES;
    const size = sampleShape.reduce((a, b) => a * b, 1);
    extraFiles = {
      shortLabels: path.join(tmp, 'labels-short.npy'),
      nanImages: path.join(tmp, 'images-nan.npy'),
      smallImages: path.join(tmp, 'images-5x5.npy'),
    };
    writeNpy(extraFiles.shortLabels, '<i4', [n - 1], new Array(n - 1).fill(0));
    const nan = new Float32Array(n * size).fill(0.5);
    nan[3 * size + 2] = NaN;
    writeNpy(extraFiles.nanImages, '<f4', [n, ...sampleShape], nan);
    writeNpy(extraFiles.smallImages, '|u1', [n, 5, 5, 1], new Uint8Array(n * 25).fill(128));
    // A model whose output is not [N, classes]: a dense layer straight on the image gives [N, h, w, 3].
    const spatial = tf.sequential();
    spatial.add(tf.layers.dense({ units: 3, inputShape: sampleShape }));
    extraFiles.spatialModel = await saveModel(spatial, path.join(tmp, 'spatial-model'));
  });

  test('a missing model file', () => {
    expectUsageError(withOption('--model', path.join(tmp, 'nowhere', 'model.json')), /--model .*nowhere.*model\.json: file not found/);
  });
  test('a missing images file', () => {
    expectUsageError(withOption('--images', path.join(tmp, 'missing.npy')), /--images .*missing\.npy: file not found/);
  });
  test('labels that do not match the images in count', () => {
    expectUsageError(withOption('--labels', extraFiles.shortLabels), new RegExp(`--labels .*holds ${SAMPLES - 1} labels, but --images holds ${SAMPLES} images`));
  });
  test('NaN in float32 images', () => {
    expectUsageError(withOption('--images', extraFiles.nanImages), /--images .*sample 3 holds NaN/);
  });
  test('an unknown norm', () => {
    expectUsageError(withOption('--norm', 'l3'), /--norm.*'l3'.*l1, l2, linf/);
  });
  test('an --out folder that cannot be made fails before the attack; a failed run leaves no new folder', () => {
    const args = (out: string) => ['attack', '--model', modelPath, '--images', imagesFile, '--labels', labelsFile, '--steps', '1', '--out', out];
    expectUsageError(args(path.join(imagesFile, 'report')), /--out .*images\.npy.report: .*images\.npy is not a directory/);
    expectUsageError(args(imagesFile), /--out .*images\.npy: exists and is not a directory/);
    const fresh = path.join(tmp, 'fresh-parent');
    const r = runCli(['attack', '--model', modelPath, '--images', path.join(tmp, 'missing.npy'), '--labels', labelsFile, '--out', path.join(fresh, 'report')]);
    expect(r.status).toBe(2);
    expect(fs.existsSync(fresh)).toBe(false);
  });
  test('a stray argument (a value without its option)', () => {
    expectUsageError([...withOption('--steps', '1'), 'extra'], /too many arguments for 'attack'/);
  });
  test('an unknown TensorFlow.js backend', () => {
    expectUsageError(withOption('--tf-backend', 'webgl'), /--tf-backend.*'webgl'.*auto, wasm, cpu/);
  });
  test.each(['0', '-0.5', 'abc', '0.5,,1'])('a bad eps (%s)', (eps) => {
    expectUsageError(withOption('--eps', eps), /--eps values must be numbers > 0/);
  });
  test('images whose shape does not fit the model', () => {
    expectUsageError(withOption('--images', extraFiles.smallImages), /--images: samples of shape \[5, 5, 1\] do not fit --model .*expects \[/);
  });
  test('a model whose output is not [N, classes]', () => {
    expectUsageError(withOption('--model', extraFiles.spatialModel), /--model .*output has shape \[\?, .*\]; .*logits \[N, classes\]/);
  });
});
