// SPDX-License-Identifier: MIT
// lp-optim's public API: rai_toolbox's Lp-space optimizers for Node.js.
export { Tensor } from './tensor';
export type { DType, FloatArray } from './types';
export { getBackend, setBackend, backendInfo, setNumThreads, getNumThreads } from './backend/loader';
export { allocArray, freeArray } from './memory';
export type { BackendInfo, BackendName } from './backend/types';
export { Optimizer, REQUIRED } from './optim/optimizer';
export type { ParamGroup, ParamGroupInput, Params, StateDict, OptimizerClass } from './optim/optimizer';
export { partial } from './optim/partial';
export type { Partial } from './optim/partial';
export { SGD } from './optim/sgd';
export type { SGDOptions } from './optim/sgd';
export { ParamTransformingOptimizer } from './optim/paramTransforming';
export type { ParamTransformingOptions, InnerOptArg } from './optim/paramTransforming';
export {
  L1NormedGradientOptim, L2NormedGradientOptim, L2ProjectedOptim, LinfProjectedOptim, SignedGradientOptim, FLOAT32_TINY,
} from './optim/lpSpace';
export { ClampedGradientOptimizer, ClampedParameterOptimizer, TopQGradientOptimizer } from './optim/misc';
export { ChainedParamTransformingOptimizer, L1qNormedGradientOptim } from './optim/chained';
export type { ChainLink, ChainedOptions, L1qNormedOptions } from './optim/chained';
export { FrankWolfe, L1FrankWolfe, L2FrankWolfe, LinfFrankWolfe, L1qFrankWolfe } from './optim/frankWolfe';
export type { FrankWolfeOptions, FrankWolfeFamilyOptions } from './optim/frankWolfe';
export { Generator } from './random';
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
export { AdditivePerturbation } from './attack/perturbation';
export type { AdditivePerturbationOptions, PerturbationModel } from './attack/perturbation';
export { gradientAscent, randomRestart } from './attack/gradientAscent';
export type { GradientAscentOptions, GradientAscentResult, LossAndGrad, LossAndGradResult, Solver, StepInfo } from './attack/gradientAscent';
export { uniformLikeL1NBall_, uniformLikeL2NBall_, uniformLikeLinfNBall_ } from './attack/init';
export type { BallInitOptions } from './attack/init';
export { tfjsLossAndGrad } from './attack/tfjs';
export type { Tfjs, TfModel } from './attack/tfjs';
