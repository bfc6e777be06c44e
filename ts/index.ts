// SPDX-License-Identifier: MIT
// lp-optim's public API: rai_toolbox's Lp-space optimizers for Node.js.
export { Tensor } from './tensor';
export type { DType, FloatArray } from './types';
export { getBackend, setBackend, backendInfo } from './backend/loader';
export type { BackendInfo, BackendName } from './backend/types';
export { Optimizer, REQUIRED } from './optim/optimizer';
export type { ParamGroup, ParamGroupInput, Params, StateDict, OptimizerClass } from './optim/optimizer';
export { partial } from './optim/partial';
export type { Partial } from './optim/partial';
export { SGD } from './optim/sgd';
export type { SGDOptions } from './optim/sgd';
export { ParamTransformingOptimizer } from './optim/paramTransforming';
export type { ParamTransformingOptions, InnerOptArg } from './optim/paramTransforming';
export { L2NormedGradientOptim, L2ProjectedOptim, FLOAT32_TINY } from './optim/lpSpace';
