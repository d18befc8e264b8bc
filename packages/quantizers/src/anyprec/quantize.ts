// Any-Precision LLM quantization of a whole model (Park et al., ICML 2024, "Any-Precision
// LLM: Low-Cost Deployment of Multiple, Different-Sized LLMs"; ../shared/reference/anyprecision.md):
//   1. sensitivities: empirical Fisher diagonal from calibration sequences (runtime backward pass)
//   2. per linear, per output row: weighted 1-D k-means seed, incremental upscaling to the parent
//      (native hot loop, @anyprec/kernels-cpu quantizeAnyPrecRows)
//   3. container: parent bit-planes + one f16 table per served width (layout v1)
// Steps 1-2 checkpoint into `<out>/.anyprec-work/` (see workdir.ts), so a run that is
// interrupted continues after the last finished linear.
import { resolve } from 'node:path';
import { openModel } from '@anyprec/format/node';
import { quantizeAnyPrecRows } from '@anyprec/kernels-cpu';
import { sampleCalibration } from '../calib.js';
import { writeAnyPrecContainer } from './container.js';
import { AnyPrecOptionsError } from './errors.js';
import { type LinearLayer, type LinearSelection, selectLinears } from './linears.js';
import { fisherSensitivities } from './sensitivity.js';
import { WorkDir } from './workdir.js';

export interface AnyPrecQuantizeOptions extends LinearSelection {
  /** Hugging Face model directory (or single .safetensors file with config.json beside it). */
  model: string;
  /** Output container directory (created; holds the partial run while it is unfinished). */
  out: string;
  /** Seed width, 2 or 3 (default 3). */
  seedBits?: number;
  /** Parent (maximum) width, seedBits..8 (default 8). */
  maxBits?: number;
  /**
   * Sensitivities: `'fisher'` (default) computes the empirical Fisher diagonal from `calib`;
   * `'unit'` quantizes with unit sensitivities (plain k-means, no calibration).
   */
  sensitivity?: 'fisher' | 'unit';
  /** Calibration JSONL (never the dev split); required for `'fisher'`. */
  calib?: string;
  /** Calibration sequences (default 100). */
  samples?: number;
  /** Tokens per calibration sequence (default 512). */
  seqLen?: number;
  /** Seed of calibration sampling and k-means++ (default 0). Same seed, same output. */
  seed?: number;
  /** With seedInit 'kmeans++': restarts per row, the lowest weighted error wins (default 8). */
  restarts?: number;
  /**
   * Seed clustering: `'optimal'` (default) solves the weighted 1-D k-means exactly by dynamic
   * programming; `'kmeans++'` is the paper's k-means++ initialisation + Lloyd (best of `restarts`).
   */
  seedInit?: 'kmeans++' | 'optimal';
  /** Sensitivity floor as a fraction of each row's mean sensitivity (default 1e-6, see quantizeAnyPrecRows). */
  sensitivityFloor?: number;
  /**
   * Directory to keep the Fisher diagonals in and reuse them from (for several runs on the
   * same model and calibration, e.g. different widths). Default: inside the work dir, deleted at the end.
   */
  sensitivityCache?: string;
  /** Native worker threads (default: all hardware threads). */
  threads?: number;
  /** Progress callback (one event per finished linear, plus stage messages). */
  onProgress?: (event: AnyPrecProgress) => void;
}

export type AnyPrecProgress =
  | { kind: 'stage'; message: string }
  | {
      kind: 'linear';
      base: string;
      /** 1-based position among the linears to quantize. */
      index: number;
      total: number;
      /** Decoder layer of this linear (-1 for lm_head). */
      layer: number;
      /** True when the linear was already done by an earlier, interrupted run. */
      resumed: boolean;
      ms: number;
      /** Estimated time left for the remaining linears, from the pace of this run. */
      etaMs: number;
    };

export interface AnyPrecQuantizeResult {
  out: string;
  linears: string[];
  seedBits: number;
  parentBits: number;
  /** Linears skipped because an earlier run had finished them. */
  resumedLinears: number;
  ms: number;
}

/** Quantizes a model with Any-Precision LLM into a container serving widths seedBits..maxBits. */
export async function quantizeAnyPrec(options: AnyPrecQuantizeOptions): Promise<AnyPrecQuantizeResult> {
  const t0 = performance.now();
  const seedBits = options.seedBits ?? 3;
  const parentBits = options.maxBits ?? 8;
  const sensitivity = options.sensitivity ?? 'fisher';
  const samples = options.samples ?? 100;
  const seqLen = options.seqLen ?? 512;
  const seed = options.seed ?? 0;
  const restarts = options.restarts ?? 8;
  const seedInit = options.seedInit ?? 'optimal';
  const sensitivityFloor = options.sensitivityFloor ?? 1e-6;
  const progress = options.onProgress ?? (() => {});
  if (!Number.isInteger(seedBits) || seedBits < 1 || seedBits > 8)
    throw new AnyPrecOptionsError(`--seed-bits must be an integer in 1..8, got ${seedBits}`);
  if (!Number.isInteger(parentBits) || parentBits < seedBits || parentBits > 8) {
    throw new AnyPrecOptionsError(
      `--max-bits must be an integer in ${seedBits}..8 (at least --seed-bits), got ${parentBits}`,
    );
  }
  if (sensitivity === 'fisher' && !options.calib) {
    throw new AnyPrecOptionsError(
      '--calib <file.jsonl> is required for Fisher sensitivities (use the calibration split, never dev)',
    );
  }
  if (!Number.isInteger(seed) || seed < 0)
    throw new AnyPrecOptionsError(`--seed must be a non-negative integer, got ${seed}`);

  const model = await openModel(options.model);
  try {
    if (model.manifest)
      throw new AnyPrecOptionsError(
        `${options.model} is already an anyprec container; quantize the original Hugging Face model`,
      );
    const linears = selectLinears(model, options);
    const work = new WorkDir(options.out, seedBits, parentBits, options.sensitivityCache);
    const fingerprint = {
      method: 'anyprec',
      model: model.config,
      linears: linears.map((l) => l.base),
      seedBits,
      parentBits,
      sensitivity,
      ...(sensitivity === 'fisher' ? { samples, seqLen, calib: resolve(options.calib!) } : {}),
      seed,
      restarts,
      seedInit,
      sensitivityFloor,
    };
    const { resumed } = await work.open(fingerprint);
    if (resumed) progress({ kind: 'stage', message: `resuming the partial run in ${work.dir}` });

    // 1. sensitivities (computed once, kept on disk so a resumed run skips calibration)
    const calibration = {
      model: model.config,
      calib: options.calib ? resolve(options.calib) : null,
      samples,
      seqLen,
      seed,
    };
    if (sensitivity === 'fisher' && !(await work.hasSensitivities(calibration))) {
      progress({
        kind: 'stage',
        message: `calibration: ${samples} sequences of ${seqLen} tokens from ${options.calib}`,
      });
      const tc = performance.now();
      let lastReport = 0;
      const fisher = await fisherSensitivities(
        options.model,
        linears,
        (encode, bos) =>
          sampleCalibration({ path: options.calib!, encode, bos, samples, seqLen, seed }).sequences,
        (done, total) => {
          const now = performance.now();
          if (done < total && now - lastReport < 5000) return;
          lastReport = now;
          const eta = ((now - tc) / done) * (total - done);
          progress({
            kind: 'stage',
            message: `calibration: ${done}/${total} sequences, ETA ${(eta / 1000).toFixed(0)} s`,
          });
        },
      );
      // every linear the runtime returned (all decoder linears), so a cache serves any selection
      for (const [base, values] of fisher) await work.writeSensitivity(base, values);
      await work.markSensitivitiesComplete();
      progress({
        kind: 'stage',
        message: `Fisher diagonal done in ${((performance.now() - tc) / 1000).toFixed(1)} s`,
      });
    }

    // 2. linears, one at a time (memory: one weight matrix, its sensitivities and its result)
    let resumedLinears = 0;
    let doneMs = 0;
    let doneWeights = 0;
    const totalWeights = linears.reduce((a, l) => a + l.rows * l.cols, 0);
    let seenWeights = 0;
    for (let i = 0; i < linears.length; i++) {
      const linear = linears[i];
      seenWeights += linear.rows * linear.cols;
      const tl = performance.now();
      const isDone = work.hasLayer(linear.base);
      if (isDone) resumedLinears++;
      else {
        const weight = await model.readTensorF32(`${linear.base}.weight`);
        const sens = sensitivity === 'fisher' ? await work.readSensitivity(linear) : null;
        const result = quantizeAnyPrecRows(weight, sens, linear.rows, linear.cols, {
          seedBits,
          parentBits,
          seed: linearSeed(seed, linear.base),
          restarts,
          seedInit,
          sensitivityFloor,
          threads: options.threads,
        });
        await work.writeLayer(linear.base, result);
        doneMs += performance.now() - tl;
        doneWeights += linear.rows * linear.cols;
      }
      const pace = doneWeights > 0 ? doneMs / doneWeights : 0;
      progress({
        kind: 'linear',
        base: linear.base,
        index: i + 1,
        total: linears.length,
        layer: linear.layer,
        resumed: isDone,
        ms: performance.now() - tl,
        etaMs: pace * (totalWeights - seenWeights),
      });
    }

    // 3. container
    progress({ kind: 'stage', message: `writing the container to ${options.out}` });
    await writeAnyPrecContainer({
      model,
      out: options.out,
      linears,
      seedBits,
      parentBits,
      readLayer: (linear: LinearLayer) => work.readLayer(linear),
      resume: resumed,
      quantizer: {
        name: '@anyprec/quantizers anyprec',
        method:
          'Any-Precision LLM (Park et al., ICML 2024): weighted 1-D k-means seed + exact 2-means incremental upscaling',
        seedBits,
        parentBits,
        sensitivity,
        ...(sensitivity === 'fisher' ? { calib: options.calib, samples, seqLen } : {}),
        seed,
        restarts,
        seedInit,
        sensitivityFloor,
      },
    });
    await work.remove();
    return {
      out: options.out,
      linears: linears.map((l) => l.base),
      seedBits,
      parentBits,
      resumedLinears,
      ms: performance.now() - t0,
    };
  } finally {
    await model.close();
  }
}

/** Per-linear k-means++ seed: FNV-1a of "<seed>:<base>", so linears differ and order does not matter. */
export function linearSeed(seed: number, base: string): number {
  let h = 0x811c9dc5;
  const text = `${seed}:${base}`;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
