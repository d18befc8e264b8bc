// Options of `quantizeAnyBcq` (mirrors `anyprec quantize --method anybcq` flags) and their validation.
import type { GptqPlanes } from './gptq.js';

/** Which data-aware refinement runs after the data-free fit (each includes the previous ones' inputs). */
export type AnyBcqRefine =
  /** Data-free fit only (weights-only MSE); no calibration data needed. */
  | 'none'
  /** (a) Per-group least squares weighted by diag(XᵀX) of each linear's full-precision inputs. */
  | 'diag'
  /** Per-row output reconstruction with the full XᵀX of the full-precision inputs (layer-wise). */
  | 'layer'
  /** (b) Block-wise: inputs from the model already quantized at that width, targets from full precision. */
  | 'block';

/** How the expansion planes' signs are chosen (see AnyBcqOptions.codeSelection). */
export type AnyBcqCodeSelection = 'data-free' | 'gptq';

export interface AnyBcqOptions {
  /** Hugging Face model directory (Llama / Mistral / Qwen2). */
  model: string;
  /** Output container directory. */
  out: string;
  /** Maximum (parent) width: number of stored planes, 2..8 (default 4). */
  bits?: number;
  /** Base width fitted by alternating optimisation, 1..bits (default 2). Widths base..bits are served. */
  baseBits?: number;
  /** Inputs per scale group, a multiple of 64 (default 128). */
  groupSize?: number;
  /** Per-group offset per width (asymmetric BCQ; default true). */
  offsets?: boolean;
  /** Calibration JSONL (field `text`). Required unless refine is 'none'. Never the dev split. */
  calib?: string;
  /** Calibration sequences (default 128). */
  samples?: number;
  /** Tokens per calibration sequence, BOS included (default 512). */
  seqLen?: number;
  /** Seed of the calibration document order (default 0). Same seed, same output bytes. */
  seed?: number;
  /** Alternating cycles per fitting stage (default 20, as in AnyBCQ). */
  cycles?: number;
  /** Data-aware stage (default 'block' with calib, 'none' without). */
  refine?: AnyBcqRefine;
  /** Damping of XᵀX: damp · mean(diag) is added to its diagonal (default 0.01). */
  damp?: number;
  /**
   * Block refit target: t·X_f·Wᵀ + (1 − t)·X_q·Wᵀ for quantized-model inputs X_q (default 0.5).
   * 1 asks every linear to undo the upstream error too; 0 only matches W on X_q (GPTQ-style).
   */
  blockTarget?: number;
  /**
   * Weigh every least-squares step of the fit by each input's diag(X_fᵀX_f) (needs calib;
   * default false: the paper's data-free fit). Codes still come from nearest levels and
   * residual signs, so they change only through the scales.
   */
  weightedFit?: boolean;
  /**
   * How the sign planes are chosen: 'data-free': the paper's fit from the weights alone
   * (default without calibration); 'gptq' (default with calib and a refine stage): the planes
   * above the base width are re-chosen column by column against the activation-weighted error
   * with GPTQ error propagation (gptq.ts), see gptqPlanes. The base width's planes stay
   * data-free unless gptqPlanes is 'all'.
   */
  codeSelection?: AnyBcqCodeSelection;
  /** With codeSelection 'gptq': sign choice + scale refit repeated this often per plane (default 3). */
  gptqRounds?: number;
  /**
   * With codeSelection 'gptq', which planes are chosen: 'expansion': each added plane for its
   * own width; 'joint' (default): then all added planes again, jointly, for the widest width
   * (the nearest of their 2^k sums per weight); 'all': then every plane for the widest width.
   */
  gptqPlanes?: GptqPlanes;
  /** With codeSelection 'gptq': visit columns by decreasing diag(XᵀX) (GPTQ act-order; default true). */
  actOrder?: boolean;
  /** Reuse finished layers of an interrupted run with the same settings (default true). */
  resume?: boolean;
  /** Native threads (default: all cores). */
  threads?: number;
  /** Progress callback (stage, layer, ETA). */
  onProgress?: (progress: AnyBcqProgress) => void;
}

export interface AnyBcqProgress {
  stage: 'load' | 'calibrate' | 'layer' | 'write' | 'done';
  /** Layers finished so far, and in all. */
  layersDone: number;
  layers: number;
  /** Human-readable line (e.g. "layer 3/8: refit width 4"). */
  message: string;
  elapsedMs: number;
  /** Estimated remaining time, null until one layer has finished. */
  etaMs: number | null;
}

/** Wall time per stage, summed over layers. */
export interface AnyBcqTimings {
  loadMs: number;
  calibrationMs: number;
  /** Data-free base fit + expansion. */
  fitMs: number;
  /** codeSelection 'gptq': inverse-Hessian factors, GPTQ-style plane choice and scale refits. */
  gptqMs: number;
  /** Block forwards that capture full-precision and quantized inputs, and the XᵀX / XᵀY sums. */
  captureMs: number;
  /** Solving the refits. */
  refineMs: number;
  /** Forwards that carry quantized hidden states to the next block. */
  propagateMs: number;
  writeMs: number;
  totalMs: number;
}

export interface AnyBcqResult {
  out: string;
  precisions: number[];
  /** Layers taken from a previous interrupted run. */
  resumedLayers: number;
  /** The settings used, defaults filled in (as recorded in the container's manifest). */
  settings: Omit<ResolvedOptions, 'onProgress' | 'threads' | 'out' | 'resume'>;
  timings: AnyBcqTimings;
  /**
   * Mean over linears of the relative output error ‖X(Ŵ − W)ᵀ‖² / ‖XWᵀ‖² on the full-precision
   * calibration inputs, per width and stage (empty without calibration).
   */
  outputError: Record<number, Partial<Record<'dataFree' | 'diag' | 'layer' | 'block', number>>>;
}

export class AnyBcqOptionsError extends Error {
  override name = 'AnyBcqOptionsError';
}

export type ResolvedOptions = Required<Omit<AnyBcqOptions, 'calib' | 'onProgress' | 'threads'>> &
  Pick<AnyBcqOptions, 'calib' | 'onProgress' | 'threads'>;

export function resolveOptions(o: AnyBcqOptions): ResolvedOptions {
  const r: ResolvedOptions = {
    model: o.model,
    out: o.out,
    bits: o.bits ?? 4,
    baseBits: o.baseBits ?? 2,
    groupSize: o.groupSize ?? 128,
    offsets: o.offsets ?? true,
    calib: o.calib,
    samples: o.samples ?? 128,
    seqLen: o.seqLen ?? 512,
    seed: o.seed ?? 0,
    cycles: o.cycles ?? 20,
    refine: o.refine ?? (o.calib ? 'block' : 'none'),
    damp: o.damp ?? 0.01,
    blockTarget: o.blockTarget ?? 0.5,
    weightedFit: o.weightedFit ?? false,
    codeSelection: o.codeSelection ?? (o.calib && (o.refine ?? 'block') !== 'none' ? 'gptq' : 'data-free'),
    gptqRounds: o.gptqRounds ?? 3,
    gptqPlanes: o.gptqPlanes ?? 'joint',
    actOrder: o.actOrder ?? true,
    resume: o.resume ?? true,
    threads: o.threads,
    onProgress: o.onProgress,
  };
  const bad = (flag: string, msg: string): never => {
    throw new AnyBcqOptionsError(`--${flag}: ${msg}`);
  };
  if (typeof r.model !== 'string' || !r.model) bad('model', 'a model directory is required');
  if (typeof r.out !== 'string' || !r.out) bad('out', 'an output directory is required (-o <dir>)');
  if (!Number.isInteger(r.bits) || r.bits < 2 || r.bits > 8)
    bad('bits', `must be an integer in 2..8, got ${r.bits}`);
  if (!Number.isInteger(r.baseBits) || r.baseBits < 1 || r.baseBits > r.bits) {
    bad('base-bits', `must be an integer in 1..bits (${r.bits}), got ${r.baseBits}`);
  }
  if (!Number.isInteger(r.groupSize) || r.groupSize < 64 || r.groupSize % 64 !== 0) {
    bad('group-size', `must be a positive multiple of 64, got ${r.groupSize}`);
  }
  if (!Number.isInteger(r.samples) || r.samples < 1)
    bad('samples', `must be a positive integer, got ${r.samples}`);
  if (!Number.isInteger(r.seqLen) || r.seqLen < 2) bad('seq-len', `must be an integer >= 2, got ${r.seqLen}`);
  if (!Number.isInteger(r.seed) || r.seed < 0) bad('seed', `must be a non-negative integer, got ${r.seed}`);
  if (!Number.isInteger(r.cycles) || r.cycles < 0)
    bad('cycles', `must be a non-negative integer, got ${r.cycles}`);
  if (!['none', 'diag', 'layer', 'block'].includes(r.refine))
    bad('refine', `must be none, diag, layer or block, got ${r.refine}`);
  if (r.refine !== 'none' && !r.calib)
    bad('calib', `refine "${r.refine}" needs calibration data (--calib <file.jsonl>)`);
  if (!(r.damp >= 0) || !Number.isFinite(r.damp)) bad('damp', `must be a finite number >= 0, got ${r.damp}`);
  if (!(r.blockTarget >= 0 && r.blockTarget <= 1))
    bad('block-target', `must be in [0, 1], got ${r.blockTarget}`);
  if (!['data-free', 'gptq'].includes(r.codeSelection))
    bad('code-selection', `must be data-free or gptq, got ${r.codeSelection}`);
  if (r.codeSelection === 'gptq' && (!r.calib || r.refine === 'none'))
    bad('code-selection', 'gptq needs calibration data (--calib <file.jsonl>) and a refine stage');
  if (!Number.isInteger(r.gptqRounds) || r.gptqRounds < 1)
    bad('gptq-rounds', `must be a positive integer, got ${r.gptqRounds}`);
  if (!['expansion', 'joint', 'all'].includes(r.gptqPlanes))
    bad('gptq-planes', `must be expansion, joint or all, got ${r.gptqPlanes}`);
  if (r.weightedFit && !r.calib) bad('weighted-fit', 'needs calibration data (--calib <file.jsonl>)');
  if (r.calib && /(^|[/\\])dev\.jsonl$/.test(r.calib)) {
    bad('calib', `${r.calib} looks like the held-out dev split; calibrate on calib.jsonl`);
  }
  return r;
}
