// SPDX-License-Identifier: MIT
// ParamTransformingOptimizer: rai_toolbox's wrapper that transforms each
// gradient before an inner optimizer (SGD, Adam...) steps, and each parameter
// after. The wrapper and the inner optimizer share one list of param groups
// and one state map. Subclasses override preStepTransform / postStepTransform.
import { checkNumber, checkParamNdimType, show } from '../errors';
import { GroupTensor, GroupTransform, Projection, Transform, clampRows, groupTransform } from '../backend/groupStep';
import { Tensor } from '../tensor';
import { FloatArray } from '../types';
import {
  GroupPlan,
  INTERNAL,
  Optimizer,
  OptimizerClass,
  ParamGroup,
  Params,
  REQUIRED,
  isLpOptimClass, isOptimizerClass, stepsWithKernelsOnly,
} from './optimizer';
import { Partial, isPartial, partial } from './partial';
import { checkParamNdimFor, dataRowsAndCols, rowView } from './rows';
import { SGD } from './sgd';

export type InnerOptArg = OptimizerClass | Partial | Optimizer;

export interface ParamTransformingOptions {
  /** The optimizer that steps after the gradients are transformed (default SGD). */
  InnerOpt?: InnerOptArg;
  /** How a parameter is seen as data (rows): null, k >= 0 or k < 0 (default -1). */
  paramNdim?: number | null;
  /** Multiplies each gradient after the transform (default 1). */
  gradScale?: number;
  /** Added to each gradient after the transform (default 0). */
  gradBias?: number;
  /** Options for every group; they win over the constructor's other options. */
  defaults?: Record<string, unknown> | null;
  /** Anything else is an option of the inner optimizer (lr, momentum...). */
  [innerOption: string]: unknown;
}

type TransformingClass = typeof ParamTransformingOptimizer;

function setDefault(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (obj[key] === undefined) obj[key] = value;
}

/** What the constructor's options say, before anything is built. */
interface Parsed {
  groupDefaults: Record<string, unknown>;
  instanceOptions: Record<string, unknown>;
  innerClass: OptimizerClass | null;
  innerOptions: Record<string, unknown>;
  innerInstance: Optimizer | null;
}

/**
 * @param linkKeys group options of a chain's links (ChainedParamTransformingOptimizer):
 * accepted in `defaults` and in groups, as the reference's links take them from there.
 */
function parseOptions(cls: TransformingClass, options: ParamTransformingOptions, linkKeys: readonly string[]): Parsed {
  const name = cls.name;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(`${name}: options must be an object, got ${show(options)}`);
  }
  const { InnerOpt = SGD, defaults, ...rest } = options;
  if (defaults !== undefined && defaults !== null && (typeof defaults !== 'object' || Array.isArray(defaults))) {
    throw new TypeError(`${name}: defaults must be an object or null, got ${show(defaults)}`);
  }
  let innerClass: OptimizerClass | null = null;
  let innerInstance: Optimizer | null = null;
  let presets: Record<string, unknown> = {};
  if (isOptimizerClass(InnerOpt)) innerClass = InnerOpt;
  else if (isPartial(InnerOpt) && isOptimizerClass(InnerOpt.cls)) {
    innerClass = InnerOpt.cls;
    presets = { ...InnerOpt.options };
  } else if (InnerOpt instanceof Optimizer) innerInstance = InnerOpt;
  else {
    throw new TypeError(`${name}: InnerOpt must be an optimizer class, a partial(Class, options) or an optimizer instance, got ${show(InnerOpt)}`);
  }
  const groupKeys = cls.optionDefaults;
  const instanceKeys = cls.instanceOptionDefaults;
  // An inner class's options: its group options and its instance options (FrankWolfe's useDefaultLrSchedule).
  const innerKeys = innerClass
    ? [...Object.keys(innerClass.optionDefaults), ...Object.keys((innerClass as { instanceOptionDefaults?: object }).instanceOptionDefaults ?? {})]
    : [...innerInstance!.acceptedKeys()];
  const groupDefaults: Record<string, unknown> = { ...(defaults ?? {}) };
  const instanceOptions: Record<string, unknown> = { ...instanceKeys };
  const innerOptions: Record<string, unknown> = { ...presets };
  for (const [k, v] of Object.entries(rest)) {
    if (k in groupKeys) setDefault(groupDefaults, k, v);
    else if (k in instanceKeys) {
      if (v !== undefined) instanceOptions[k] = v;
    } else if (innerKeys.includes(k)) {
      if (innerInstance) {
        throw new RangeError(`${name}: option ${k} (${show(v)}) is for the inner optimizer, but InnerOpt is an existing instance; set it on that instance`);
      }
      if (v !== undefined) innerOptions[k] = v;
    } else {
      const known = [...Object.keys(groupKeys), ...Object.keys(instanceKeys), ...innerKeys, ...cls.constructorOptionKeys, 'InnerOpt', 'defaults'];
      // (Once: an instance that another wrapper shares its groups with already knows the wrapper's keys.)
      throw new RangeError(`${name}: unknown option ${k} (${show(v)}); it accepts ${[...new Set(known)].sort().join(', ')}`);
    }
  }
  const innerGroupKeys = innerClass ? Object.keys(innerClass.optionDefaults) : innerKeys;
  // A user's subclass declares its own group options as the reference's how-to
  // does, through `defaults` (defaults.setdefault('clamp_min', ...)): there, a key
  // nobody else knows is that subclass's option. lp-optim's own classes refuse it.
  const declaresThroughDefaults = !isLpOptimClass(cls);
  for (const k of Object.keys(groupDefaults)) {
    if (!declaresThroughDefaults && !(k in groupKeys) && !innerGroupKeys.includes(k) && !linkKeys.includes(k)) {
      throw new RangeError(`${name}: unknown option defaults.${k} (${show(groupDefaults[k])})`);
    }
  }
  for (const [k, v] of Object.entries(groupKeys)) setDefault(groupDefaults, k, v);
  cls.checkInstanceOptions(instanceOptions);
  return { groupDefaults, instanceOptions, innerClass, innerOptions, innerInstance };
}

export class ParamTransformingOptimizer extends Optimizer {
  /** Group options of the transform, with their defaults. */
  static readonly optionDefaults: Record<string, unknown> = { paramNdim: -1, gradScale: 1, gradBias: 0 };
  /** Options kept on the optimizer itself rather than per group. */
  static readonly instanceOptionDefaults: Record<string, unknown> = {};
  /** Options a subclass's constructor takes before this one's (a chain's links, L1q's q): named when an option is unknown. */
  static readonly constructorOptionKeys: readonly string[] = [];

  /** The optimizer that steps the parameters. */
  readonly innerOpt: Optimizer;
  /** Whether innerOpt was made here (rather than given as an InnerOpt instance): see dispose. */
  private madeInner = true;
  /** The values of the instance options (e.g. divByZeroEps). */
  protected readonly instanceOptions: Readonly<Record<string, unknown>>;

  /** Checks the instance options before anything is built; subclasses extend. */
  static checkInstanceOptions(options: Record<string, unknown>): void {
    void options;
  }

  constructor(params: Params | null, options: ParamTransformingOptions & { [INTERNAL]?: { linkKeys?: readonly string[] } } = {}) {
    const cls = new.target as TransformingClass;
    const linkKeys = (options as { [INTERNAL]?: { linkKeys?: readonly string[] } } | null)?.[INTERNAL]?.linkKeys ?? [];
    const parsed = parseOptions(cls, options, linkKeys);
    super(null, parsed.groupDefaults, { backend: parsed.innerInstance?.backend, deferGroups: true });
    this.instanceOptions = Object.freeze(parsed.instanceOptions);
    // A chain's links are built after this constructor; their options may already be in the groups.
    this.acceptKeys(linkKeys);
    const ownKeys = Object.keys(cls.optionDefaults);
    if (parsed.innerInstance) {
      const inner = parsed.innerInstance;
      if (params !== null && params !== undefined) this.checkSameParams(params, inner);
      // Check every adopted group before filling any of them in.
      inner.paramGroups.forEach((g, i) => this.fillGroup({ ...g }, `param group ${i}`));
      inner.paramGroups.forEach((g, i) => this.fillGroup(g, `param group ${i}`));
      inner.acceptKeys(ownKeys);
      this.innerOpt = inner;
      this.madeInner = false;
    } else {
      this.acceptKeys(Object.keys(parsed.innerClass!.optionDefaults));
      const groups = this.prepareGroups(params);
      const innerCls = parsed.innerClass! as unknown as new (p: null, o: Record<string, unknown>) => Optimizer;
      this.innerOpt = new innerCls(null, { ...parsed.innerOptions, [INTERNAL]: { sharedGroups: groups, backend: this.backend } });
      this.innerOpt.acceptKeys(ownKeys);
    }
    this.paramGroups = this.innerOpt.paramGroups;
    this.state = this.innerOpt.state;
    this.innerOpt.adoptedBy(this);
  }

  private checkSameParams(params: Params, inner: Optimizer): void {
    const given = new Set(Optimizer.splitParams(params).flatMap((g) => (g.params instanceof Tensor ? [g.params] : g.params)));
    const theirs = inner.paramGroups.flatMap((g) => g.params);
    if (given.size !== theirs.length || theirs.some((p) => !given.has(p))) {
      throw new RangeError(`${this.constructor.name}: params differ from the parameters of the InnerOpt instance (pass null to adopt its groups)`);
    }
  }

  override acceptedKeys(): Set<string> {
    const keys = super.acceptedKeys();
    if (this.innerOpt) for (const k of this.innerOpt.acceptedKeys()) keys.add(k);
    return keys;
  }

  override checkOptions(g: Record<string, unknown>, where: string): void {
    super.checkOptions(g, where);
    if ('paramNdim' in g) checkParamNdimType(g.paramNdim);
    if ('gradScale' in g) checkNumber(`gradScale (${where})`, g.gradScale);
    if ('gradBias' in g) checkNumber(`gradBias (${where})`, g.gradBias);
    this.innerOpt?.checkOptions(g, where);
  }

  override checkComplete(group: ParamGroup, where: string): void {
    super.checkComplete(group, where);
    this.innerOpt?.checkComplete(group, where);
  }

  override checkParamsAgainstOptions(group: ParamGroup, where: string): void {
    for (const p of group.params) checkParamNdimFor(p.shape, group.paramNdim as number | null, where);
  }

  override fillGroup(group: ParamGroup, where = 'param group'): void {
    if (!this.innerOpt) return super.fillGroup(group, where);
    // Check on a copy through the whole chain, then fill in place.
    const probe = { ...group };
    super.fillGroup(probe, where);
    this.innerOpt.fillGroup(probe, where);
    Object.assign(group, probe);
  }

  /** Retires the inner optimizer too if this one made it (their state is one: freed here). */
  override dispose(): void {
    super.dispose();
    if (this.madeInner) this.innerOpt.dispose();
  }

  protected override ownsState(): boolean {
    return this.madeInner;
  }

  /** (Also refused once the inner optimizer, whose state and groups are this one's, is disposed.) */
  protected override ensureIdle(what: string): void {
    super.ensureIdle(what);
    if (this.innerOpt.isDisposed) throw new Error(`cannot ${what}: its inner optimizer was disposed (dispose() freed their state)`);
  }

  override checkStateEntry(p: Tensor, entry: Record<string, unknown>, where: string): void {
    this.innerOpt.checkStateEntry(p, entry, where);
  }

  /** Transforms one parameter's gradient in place; `param` is seen as rows per paramNdim. */
  protected preStepTransform(param: Tensor, group: ParamGroup): void {
    void param;
    void group;
  }

  /** Transforms one parameter in place after the inner step; `param` is seen as rows. */
  protected postStepTransform(param: Tensor, group: ParamGroup): void {
    void param;
    void group;
  }

  /**
   * The built-in transforms of this class as a fused group step, or null
   * when a subclass writes its own (the custom path then runs them in
   * JavaScript). The base class transforms nothing but gradScale/gradBias.
   */
  protected builtinTransform(g: ParamGroup): GroupTransform | null {
    if (!this.transformsAreThoseOf(ParamTransformingOptimizer, ParamTransformingOptimizer)) return null;
    return groupTransform(Transform.None, Projection.None, 0, g.gradScale as number, g.gradBias as number);
  }

  /** Whether this optimizer's transforms are still those of the given classes (not a subclass's own). */
  protected transformsAreThoseOf(preOwner: { prototype: object }, postOwner: { prototype: object }): boolean {
    const pre = (preOwner.prototype as Record<string, unknown>).preStepTransform;
    const post = (postOwner.prototype as Record<string, unknown>).postStepTransform;
    return this.preStepTransform === pre && this.postStepTransform === post;
  }

  /** @internal The transform, the inner update and the projection of a group as one fused step. */
  override planGroup(g: ParamGroup): GroupPlan | null {
    const transform = this.builtinTransform(g);
    if (!transform) return null;
    const paramNdim = g.paramNdim as number | null;
    const tensors: GroupTensor[] = [];
    const withoutGrad: { data: FloatArray; rows: number; cols: number }[] = [];
    let elements = 0;
    for (const p of g.params) {
      const [rows, cols] = dataRowsAndCols(p, paramNdim);
      const grad = p.grad;
      if (!grad) {
        if (p.numel !== 0) withoutGrad.push({ data: p.data, rows, cols });
        continue;
      }
      const state = this.innerOpt.prepareTensor(p, g, this.stateOf(p));
      // (Its fields one by one: a spread of the state cost small steps a tenth of their time.)
      tensors.push({ p: p.data, g: grad, rows, cols, maxNorms: transform.maxNorms, buffers: state.buffers, s0: state.s0, s1: state.s1 });
      elements += p.numel;
    }
    const plan: GroupPlan = { spec: this.specFor(g, transform, this.innerOpt.innerSpec(g)), tensors, elements };
    if (transform.project !== Projection.None && withoutGrad.length) {
      // A parameter without a gradient is not stepped, but it is projected.
      plan.finish = () => {
        for (const t of withoutGrad) {
          if (transform.project === Projection.LinfClamp) clampRows(this.backend, t.data, t.rows, t.cols, transform.maxNorms, transform.maxNorm);
          else if (transform.maxNorms) this.backend.renormRowsL2PerRow(t.data, t.rows, t.cols, transform.maxNorms);
          else this.backend.renormRowsL2(t.data, t.rows, t.cols, transform.maxNorm);
        }
      };
    }
    return plan;
  }

  /** @internal The transforms' methods and the inner optimizer's step are lp-optim's own. */
  override stepIsKernelsOnly(): boolean {
    return super.stepIsKernelsOnly() && this.innerOpt.stepIsKernelsOnly();
  }

  /** A group whose transforms are written in JavaScript: pre-step transform, inner step, post-step transform. */
  protected override customGroupStep(g: ParamGroup): void {
    for (const p of g.params) {
      const grad = p.grad;
      // An empty tensor has nothing to transform (its rows, if any, are empty).
      if (!grad || p.numel === 0) continue;
      const view = rowView(p, g.paramNdim as number | null);
      this.preStepTransform(view, g);
      if (view.grad !== grad) {
        throw new Error(
          `${this.constructor.name}.preStepTransform did not modify the gradient in place: assigning param.grad replaces the array; write into param.grad instead`,
        );
      }
      const scale = g.gradScale as number;
      const bias = g.gradBias as number;
      if (scale !== 1 || bias !== 0) this.backend.scaleBias(grad, scale, scale !== 1, bias, bias !== 0);
    }
    this.innerOpt.stepGroup(g);
    for (const p of g.params) if (p.numel !== 0) this.postStepTransform(rowView(p, g.paramNdim as number | null), g);
  }

  override describe(): string {
    return `${this.constructor.name}[${this.innerOpt.describe()}]`;
  }

  protected override displayName(): string {
    return `${this.constructor.name} [${this.innerOpt.constructor.name}](`;
  }
}

export { REQUIRED, partial };

// Their steps are backend kernel calls only (stepAsync records them).
stepsWithKernelsOnly(ParamTransformingOptimizer);
