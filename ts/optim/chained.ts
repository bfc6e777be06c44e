// SPDX-License-Identifier: MIT
// ChainedParamTransformingOptimizer: several transforming optimizers applied
// one after the other (left to right) around one inner optimizer, and
// L1qNormedGradientOptim, the chain top-q -> sign -> L1 normalisation.
import { show } from '../errors';
import { Tensor } from '../tensor';
import { INTERNAL, Optimizer, ParamGroup, Params, REQUIRED, checkOptionsObject, isOptimizerClass, stepsWithKernelsOnly } from './optimizer';
import { ParamTransformingOptimizer, ParamTransformingOptions } from './paramTransforming';
import { Partial, isPartial, partial } from './partial';
import { L1NormedGradientOptim, SignedGradientOptim } from './lpSpace';
import { TopQGradientOptimizer } from './misc';
import { rowsAndCols } from './rows';
import { Generator, defaultGenerator } from '../random';

type TransformingClass = new (params: Params | null, options?: ParamTransformingOptions) => ParamTransformingOptimizer;
export type ChainLink = TransformingClass | Partial;

/** The transforms of a link, reachable from the chain (they are protected on the link's class). */
interface Transforms {
  preStepTransform(param: Tensor, group: ParamGroup): void;
  postStepTransform(param: Tensor, group: ParamGroup): void;
}

function isTransformingClass(x: unknown): x is TransformingClass {
  return isOptimizerClass(x) && (x === ParamTransformingOptimizer || x.prototype instanceof ParamTransformingOptimizer);
}

export interface ChainedOptions extends ParamTransformingOptions {
  /** Transforming optimizer classes or partial(Class, options), applied left to right. */
  chain?: ChainLink[];
}

export class ChainedParamTransformingOptimizer extends ParamTransformingOptimizer {
  /** Group options read by the links a subclass always chains (none here: the links are the caller's). */
  static readonly chainOptionKeys: readonly string[] = [];
  static override readonly constructorOptionKeys: readonly string[] = ['chain'];

  /** The links, each a transforming optimizer sharing this one's inner optimizer and groups. */
  readonly chain: readonly ParamTransformingOptimizer[];

  constructor(params: Params | null, options: ChainedOptions = {}) {
    checkOptionsObject(new.target.name, options);
    const { chain = [], ...rest } = options;
    if (!Array.isArray(chain)) throw new TypeError(`chain must be an array of transforming optimizer classes or partials, got ${show(chain)}`);
    chain.forEach((link, i) => {
      const cls = isPartial(link) ? link.cls : link;
      if (!isTransformingClass(cls)) {
        throw new TypeError(`chain[${i}] must be a ParamTransformingOptimizer class or a partial of one, got ${show(isPartial(link) ? link.cls : link)}`);
      }
    });
    // The links' group options (q, clampMax, epsilon...) may be set per group
    // or in `defaults`, as in the reference, before the links exist.
    const linkClasses = chain.map((link) => (isPartial(link) ? link.cls : link) as unknown as typeof ParamTransformingOptimizer);
    // A link that is itself a chain (L1qNormedGradientOptim) reads its own links' options from the groups too.
    const keysOf = (cls: typeof ParamTransformingOptimizer) => [
      ...Object.keys(cls.optionDefaults),
      ...((cls as unknown as { chainOptionKeys?: readonly string[] }).chainOptionKeys ?? []),
    ];
    const linkKeys = [...new Set(linkClasses.flatMap(keysOf))];
    // An InnerOpt instance's groups as they were: the links fill them one by one, and a link
    // refused later (a bad q or dq) must leave the caller's instance as it was.
    const adopted = (rest as { InnerOpt?: unknown }).InnerOpt instanceof Optimizer ? ((rest as { InnerOpt: Optimizer }).InnerOpt) : null;
    const groupsBefore = adopted?.paramGroups.map((g) => ({ ...g }));
    super(params, { ...rest, [INTERNAL]: { linkKeys } });
    // Each link adopts the shared groups, its options filling what a group
    // lacks (a group's own value and the chain's `defaults` win, as in the
    // reference's setdefault); it is given the `defaults` it knows of.
    try {
      this.chain = chain.map((link, i) => {
        const [cls, opts] = isPartial(link) ? [link.cls as unknown as TransformingClass, link.options] : [link, {}];
        const known = new Set([...Object.keys(linkClasses[i].optionDefaults), ...this.innerOpt.acceptedKeys()]);
        const defaults = Object.fromEntries(Object.entries(this.defaults).filter(([k]) => known.has(k)));
        const built = new cls(null, { ...opts, InnerOpt: this.innerOpt, defaults });
        built.adoptedBy(this);
        return built;
      });
    } catch (err) {
      this.innerOpt.releasedBy(this);
      adopted?.paramGroups.forEach((g, i) => {
        for (const k of Object.keys(g)) if (!(k in groupsBefore![i])) delete g[k];
        Object.assign(g, groupsBefore![i]);
      });
      throw err;
    }
  }

  override acceptedKeys(): Set<string> {
    const keys = super.acceptedKeys();
    for (const link of this.chain ?? []) for (const k of link.acceptedKeys()) keys.add(k);
    return keys;
  }

  override checkOptions(g: Record<string, unknown>, where: string): void {
    super.checkOptions(g, where);
    for (const link of this.chain ?? []) link.checkOptions(g, where);
  }

  override checkComplete(group: ParamGroup, where: string): void {
    super.checkComplete(group, where);
    for (const link of this.chain ?? []) link.checkComplete(group, where);
  }

  override checkParamsAgainstOptions(group: ParamGroup, where: string): void {
    super.checkParamsAgainstOptions(group, where);
    for (const link of this.chain ?? []) link.checkParamsAgainstOptions(group, where);
  }

  override fillGroup(group: ParamGroup, where = 'param group'): void {
    super.fillGroup(group, where);
    for (const link of this.chain ?? []) link.fillGroup(group, where);
  }

  /** @internal Each link's too. */
  override stepIsKernelsOnly(): boolean {
    return super.stepIsKernelsOnly() && this.chain.every((link) => link.stepIsKernelsOnly());
  }

  protected override preStepTransform(param: Tensor, group: ParamGroup): void {
    for (const link of this.chain) (link as unknown as Transforms).preStepTransform(param, group);
  }

  protected override postStepTransform(param: Tensor, group: ParamGroup): void {
    for (const link of this.chain) (link as unknown as Transforms).postStepTransform(param, group);
  }

  /** As the reference's repr: the links composed right to left, "C ○ B ○ A [SGD](". */
  protected override displayName(): string {
    const names = this.chain.map((l) => l.constructor.name).reverse().join(' ○ ');
    return `${names} [${this.innerOpt.constructor.name}](`;
  }
}

export interface L1qNormedOptions extends ParamTransformingOptions {
  q?: number;
  dq?: number;
  divByZeroEps?: number;
  generator?: Generator;
}

/** Top-q sparsification, then the sign, then L1 normalisation of each datum's gradient. */
export class L1qNormedGradientOptim extends ChainedParamTransformingOptimizer {
  static override readonly chainOptionKeys: readonly string[] = Object.keys({
    ...TopQGradientOptimizer.optionDefaults, ...SignedGradientOptim.optionDefaults, ...L1NormedGradientOptim.optionDefaults,
  });
  // Its chain is fixed: a `chain` option would be dropped silently (the reference passes it to InnerOpt, which refuses it).
  static override readonly constructorOptionKeys: readonly string[] = ['q', 'dq', 'divByZeroEps', 'generator'];

  constructor(params: Params | null, options: L1qNormedOptions = {}) {
    checkOptionsObject(new.target.name, options);
    if ('chain' in options) {
      throw new RangeError(`${new.target.name}: unknown option chain (${show((options as { chain?: unknown }).chain)}); its chain is always top-q, sign, L1 normalisation`);
    }
    const { q = REQUIRED, dq = 0, divByZeroEps, generator = defaultGenerator, ...rest } = options;
    if (q === REQUIRED) throw new TypeError(`${new.target.name}: missing required option q`);
    super(params, {
      ...rest,
      chain: [
        partial(TopQGradientOptimizer, { q, dq, generator }),
        SignedGradientOptim,
        partial(L1NormedGradientOptim, divByZeroEps === undefined ? {} : { divByZeroEps }),
      ],
    });
  }

  /**
   * The three links as one kernel, each row transformed while in cache
   * (the same bits as the links one after the other), unless a link's
   * transforms were replaced or a float32 row is too long for the count of
   * its signs to be its L1 norm to the bit (2^24 entries).
   */
  protected override preStepTransform(param: Tensor, group: ParamGroup): void {
    const [topQ, sign, l1] = this.chain;
    const [rows, cols] = rowsAndCols(param.shape);
    const g = param.grad!;
    const linksAsBuilt =
      isOwnTransform(topQ, TopQGradientOptimizer) && isOwnTransform(sign, SignedGradientOptim) && isOwnTransform(l1, L1NormedGradientOptim);
    if (!linksAsBuilt || (g instanceof Float32Array && cols >= 2 ** 24)) {
      super.preStepTransform(param, group);
      return;
    }
    this.backend.topQSignL1Rows(g, rows, cols, (topQ as TopQGradientOptimizer).keepFor(group, cols), (l1 as L1NormedGradientOptim).divByZeroEps);
  }
}

/** Whether a link is an instance of exactly cls with cls's own transforms (none replaced on the instance). */
function isOwnTransform(link: ParamTransformingOptimizer, cls: { prototype: object }): boolean {
  const own = cls.prototype as unknown as Transforms;
  const its = link as unknown as Transforms;
  return link.constructor === cls && its.preStepTransform === own.preStepTransform && its.postStepTransform === own.postStepTransform;
}

// Their steps are backend kernel calls only (stepAsync records them).
stepsWithKernelsOnly(ChainedParamTransformingOptimizer, L1qNormedGradientOptim);
