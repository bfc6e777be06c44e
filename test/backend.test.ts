// SPDX-License-Identifier: MIT
// The backend switch: what runs is what was asked for, an optimizer keeps
// its backend, and a backend that cannot load fails with one error listing
// every attempt.
import { spawnSync } from 'child_process';
import * as path from 'path';
import { L2ProjectedOptim, Tensor, backendInfo, getBackend, setBackend } from '../ts';

const root = path.join(__dirname, '..');
const env = process.env;

function runNode(code: string, extraEnv: Record<string, string | undefined>) {
  const childEnv: Record<string, string | undefined> = { ...process.env, ...extraEnv };
  for (const [k, v] of Object.entries(extraEnv)) if (v === undefined) delete childEnv[k];
  return spawnSync(process.execPath, ['-e', code], { cwd: root, encoding: 'utf8', env: childEnv as NodeJS.ProcessEnv });
}

describe('backend selection', () => {
  test('the backend and ISA forced by the environment are the ones running', () => {
    const info = backendInfo();
    if (env.LP_OPTIM_BACKEND) expect(info.backend).toBe(env.LP_OPTIM_BACKEND);
    if (env.LP_OPTIM_FORCE_ISA) expect(info.isa).toBe(env.LP_OPTIM_FORCE_ISA);
    expect(getBackend()).toBe(info.backend);
    expect(info.version).toBe(require('../package.json').version);
    expect(typeof info.binary).toBe('string');
  });

  test('setBackend applies to optimizers created afterwards; each keeps its own', () => {
    const start = getBackend();
    const other = start === 'native' ? 'wasm' : 'native';
    const a = new L2ProjectedOptim([new Tensor([1, 2])], { lr: 1, epsilon: 1 });
    try {
      setBackend(other);
      expect(getBackend()).toBe(other);
      const b = new L2ProjectedOptim([new Tensor([1, 2])], { lr: 1, epsilon: 1 });
      expect(a.backend.info.backend).toBe(start);
      expect(b.backend.info.backend).toBe(other);
      expect(b.innerOpt.backend).toBe(b.backend);
    } finally {
      setBackend(start);
    }
    expect(() => setBackend('gpu' as never)).toThrow(RangeError);
    // Not a string at all: the wrong type.
    for (const bad of [1, null, undefined, {}, ['native']]) expect(() => setBackend(bad as never)).toThrow(TypeError);
    expect(getBackend()).toBe(start);
  });

  test('a forced backend that cannot load: one error naming every attempt', () => {
    const r = runNode("require('./dist').getBackend()", {
      LP_OPTIM_BACKEND: 'native',
      LP_OPTIM_FORCE_ISA: undefined,
      LP_OPTIM_NATIVE_PATH: '/nonexistent/lp_optim.node',
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/could not load the native backend/);
    expect(r.stderr).toMatch(/native addon \[\/nonexistent\/lp_optim\.node\]: MODULE_NOT_FOUND/);
  });

  test('without the native addon the WebAssembly backend takes over silently', () => {
    const r = runNode("const lp=require('./dist'); console.log(JSON.stringify(lp.backendInfo()))", {
      LP_OPTIM_BACKEND: undefined,
      LP_OPTIM_FORCE_ISA: undefined,
      LP_OPTIM_NATIVE_PATH: '/nonexistent/lp_optim.node',
    });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({ backend: 'wasm', isa: expect.stringMatching(/^wasm/) });
  });

  test('an unknown or contradictory override is a clear error', () => {
    const bad = runNode("require('./dist').getBackend()", { LP_OPTIM_BACKEND: 'cuda', LP_OPTIM_FORCE_ISA: undefined });
    expect(bad.stderr).toMatch(/LP_OPTIM_BACKEND must be 'native' or 'wasm', got "cuda"/);
    const clash = runNode("require('./dist').getBackend()", { LP_OPTIM_BACKEND: 'native', LP_OPTIM_FORCE_ISA: 'wasm' });
    expect(clash.stderr).toMatch(/LP_OPTIM_FORCE_ISA=wasm is a wasm instruction set, but LP_OPTIM_BACKEND=native/);
    const unknown = runNode("require('./dist').getBackend()", { LP_OPTIM_BACKEND: undefined, LP_OPTIM_FORCE_ISA: 'sse9' });
    expect(unknown.stderr).toMatch(/LP_OPTIM_FORCE_ISA must be one of .*got "sse9"/);
  });

  test('forcing an ISA selects its backend', () => {
    const r = runNode("console.log(JSON.stringify(require('./dist').backendInfo()))", { LP_OPTIM_BACKEND: undefined, LP_OPTIM_FORCE_ISA: 'wasm' });
    expect(JSON.parse(r.stdout)).toMatchObject({ backend: 'wasm', isa: 'wasm' });
    const s = runNode("console.log(JSON.stringify(require('./dist').backendInfo()))", { LP_OPTIM_BACKEND: undefined, LP_OPTIM_FORCE_ISA: 'scalar' });
    expect(JSON.parse(s.stdout)).toMatchObject({ backend: 'native', isa: 'scalar' });
  });
});
