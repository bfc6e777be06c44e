// SPDX-License-Identifier: MIT
// A TypeScript user's file, type-checked against the published declarations
// (dist/index.d.ts) by test/package.test.ts.
import { L2ProjectedOptim, SGD, Tensor, backendInfo, partial, type BackendInfo, type StateDict } from 'lp-optim';

const x = new Tensor(new Float32Array([-1, 1]));
const optim = new L2ProjectedOptim([x], { paramNdim: null, InnerOpt: partial(SGD, { lr: 1 }), epsilon: 0.8 });
x.grad = new Float32Array([2, 2]);
const loss: number | undefined = optim.step(() => 1);
const info: BackendInfo = backendInfo();
const sd: StateDict = optim.stateDict();
console.log(loss, info.backend, sd.paramGroups.length, Array.from(x.data));
