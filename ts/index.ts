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
export { Adam, AdamW } from './optim/adam';
export type { AdamOptions } from './optim/adam';
export { RMSprop } from './optim/rmsprop';
export type { RMSpropOptions } from './optim/rmsprop';
export { Adagrad } from './optim/adagrad';
export type { AdagradOptions } from './optim/adagrad';
export { LRScheduler, StepLR, ExponentialLR, CosineAnnealingLR, LambdaLR } from './lrScheduler';
export type { SchedulerState } from './lrScheduler';
export { save, load, loadMetadata, CheckpointError, HEADER_LENGTH_LIMIT } from './checkpoint';
export type { CheckpointErrorCode, CheckpointKind, SaveOptions, LoadOptions } from './checkpoint';
