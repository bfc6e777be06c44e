// SPDX-License-Identifier: MIT
// The outputs of `lp-optim attack`: the robust-accuracy table, report.json, and report.svg (vega-lite rendered headlessly).
import * as fs from 'fs';
import * as path from 'path';
import { AttackConfig, NormName } from './options';
import { EpsilonResult } from './runAttack';

/** The run's settings that report.json repeats, as the command line gave them (--lr null: 2.5 * eps / steps; each result holds the lr it used). */
type ReportedSettings = Pick<AttackConfig, 'norm' | 'steps' | 'lr' | 'restarts' | 'seed' | 'dataRange' | 'batchSize' | 'earlyStop' | 'targeted'>;

/** report.json. */
export interface AttackReport extends ReportedSettings {
  tool: 'lp-optim attack';
  version: string;
  createdAt: string;
  model: string;
  images: string;
  labels: string;
  samples: number;
  classes: number;
  /** How each norm's attack steps (see --help). */
  optimizer: string;
  /** How targets are chosen (targeted attacks only). */
  targetRule?: string;
  /** lp-optim's compute backend and instruction set. */
  backend: { backend: string; isa: string };
  /** The TensorFlow.js backend that ran the model. */
  tfBackend: 'wasm' | 'cpu';
  cleanAccuracy: number;
  results: EpsilonResult[];
}

export const OPTIMIZER_OF_NORM: Readonly<Record<NormName, string>> = {
  l1: 'L1qNormedGradientOptim (q = 0.9) + projection onto the L1 ball',
  l2: 'L2ProjectedOptim',
  linf: 'LinfProjectedOptim (elementwise clamp)',
};

const percent = (x: number) => `${(100 * x).toFixed(1)}%`;

/** The table printed at the end of a run: one row per eps. */
export function formatTable(report: AttackReport): string {
  const header = ['eps', 'clean acc', 'robust acc', 'success', 'mean loss', 'time'];
  const rows = report.results.map((r) => [
    String(r.eps),
    percent(r.cleanAccuracy),
    percent(r.robustAccuracy),
    percent(r.successRate),
    r.meanLoss.toFixed(4),
    `${r.seconds.toFixed(1)}s`,
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  const line = (cells: string[]) => cells.map((cell, c) => cell.padStart(widths[c])).join('  ');
  const title =
    `${report.norm} attack, ${report.optimizer.split(' ')[0]}, ${report.steps} steps, ${report.restarts} restart${report.restarts === 1 ? '' : 's'}` +
    `${report.targeted ? ', targeted' : ''}, ${report.samples} samples, ${report.classes} classes`;
  return [title, line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n') + '\n';
}

/**
 * The vega-lite chart of report.svg: robust accuracy against eps, one line
 * per norm, starting from the clean accuracy at eps 0.
 */
export function chartSpec(report: AttackReport): Record<string, unknown> {
  const points = [
    { norm: report.norm, eps: 0, robustAccuracy: report.cleanAccuracy },
    ...report.results.map((r) => ({ norm: r.norm, eps: r.eps, robustAccuracy: r.robustAccuracy })),
  ];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: `Robust accuracy under a${report.targeted ? ' targeted' : 'n'} ${report.norm} attack`,
      subtitle: `${report.samples} samples, ${report.steps} steps, ${report.restarts} restart${report.restarts === 1 ? '' : 's'}; eps 0 is clean accuracy`,
    },
    width: 480,
    height: 300,
    background: 'white',
    data: { values: points },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'eps', type: 'quantitative', title: 'epsilon (perturbation budget)' },
      y: { field: 'robustAccuracy', type: 'quantitative', title: 'robust accuracy', scale: { domain: [0, 1] }, axis: { format: '.0%' } },
      color: { field: 'norm', type: 'nominal', title: 'norm' },
      tooltip: [{ field: 'eps' }, { field: 'robustAccuracy', format: '.1%' }],
    },
  };
}

/**
 * import() that stays an import() in the CommonJS build (tsc would turn it
 * into require()): vega and vega-lite are ES modules only.
 */
const importEsm = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<unknown>;

interface VegaModule {
  parse(spec: unknown): unknown;
  View: new (runtime: unknown, options: { renderer: 'none' }) => { toSVG(): Promise<string>; finalize(): void };
}
interface VegaLiteModule {
  compile(spec: unknown): { spec: unknown };
}

/** Renders the chart to an SVG string, without a browser or canvas. */
export async function renderSvg(report: AttackReport): Promise<string> {
  const vega = (await importEsm('vega')) as VegaModule;
  const vegaLite = (await importEsm('vega-lite')) as VegaLiteModule;
  const view = new vega.View(vega.parse(vegaLite.compile(chartSpec(report)).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** report.json's text: indented, with each per-sample entry on one line (a report holds thousands). */
export function reportJson(report: AttackReport): string {
  const indented = JSON.stringify(report, null, 2);
  // Sample entries are the only objects that start with "index" and hold no nested object.
  return indented.replace(/\{\n\s+("index": [^{}]*?)\n\s+\}/g, (_, body: string) => `{ ${body.replace(/\n\s+/g, ' ')} }`) + '\n';
}

/** Writes report.json and report.svg into outDir (created if needed); returns their paths. */
export async function writeReport(outDir: string, report: AttackReport): Promise<{ json: string; svg: string }> {
  fs.mkdirSync(outDir, { recursive: true });
  const json = path.join(outDir, 'report.json');
  const svg = path.join(outDir, 'report.svg');
  fs.writeFileSync(json, reportJson(report));
  fs.writeFileSync(svg, await renderSvg(report));
  return { json, svg };
}

/** The report's settings part, from the configuration. */
export function reportSettings(config: AttackConfig): ReportedSettings & Pick<AttackReport, 'optimizer' | 'targetRule'> {
  return {
    norm: config.norm,
    optimizer: OPTIMIZER_OF_NORM[config.norm],
    steps: config.steps,
    lr: config.lr,
    restarts: config.restarts,
    seed: config.seed,
    dataRange: config.dataRange,
    batchSize: config.batchSize,
    earlyStop: config.earlyStop,
    targeted: config.targeted,
    ...(config.targeted ? { targetRule: '(label + 1) % classes' } : {}),
  };
}
