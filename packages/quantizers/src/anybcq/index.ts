// AnyBCQ quantizer (Park et al., "AnyBCQ: Hardware Efficient Flexible Binary-Coded
// Quantization for Multi-Precision LLMs", ICLR 2026; ../shared/reference/anybcq.md).
//
// Per decoder block, in order:
//   1. capture the block's full-precision linear inputs X_f on the calibration sequences.
//   2. fit     data-free base fit + progressive expansion of every linear (fit.ts): one set of
//              ±1 planes shared by all widths, one scale set (and offset) per width.
//      gptq    (codeSelection 'gptq', the default with calibration) the planes above the base
//              width re-chosen GPTQ-style against X_fᵀX_f (gptq.ts), by default each for its
//              own width and then jointly for the widest width, columns in act-order.
//   3. refine  per width b, scales/offsets only (refine.ts): 'diag' (diag(X_fᵀX_f)-weighted),
//              'layer' (full X_fᵀX_f) or 'block' (block-wise reconstruction: in the block's
//              order q/k/v → o → gate/up → down, inputs X_q from the model already quantized at
//              width b up to that linear, target a mix of X_f·Wᵀ and X_q·Wᵀ).
//   4. propagate the quantized hidden states of every width to the next block.
// Finished blocks are checkpointed under <out>/.anybcq-partial, so an interrupted run resumes.
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type DType, dequantizeBcq, f16ToF32, f32ToF16, packSigns } from '@anyprec/format';
import { openSafetensors, writeContainerDir, writeSafetensors } from '@anyprec/format/node';
import { loadModel, type Model } from '@anyprec/runtime';
import { sampleCalibration } from '../calib.js';
import { BlockRunner, blockLinears, SITE_OF, SITES, type Site } from './calibrate.js';
import { type BcqFit, type BcqFitOptions, fitMatrix } from './fit.js';
import { type GptqFactor, gptqExpand, gptqFactor } from './gptq.js';
import {
  type AnyBcqOptions,
  AnyBcqOptionsError,
  type AnyBcqProgress,
  type AnyBcqResult,
  type AnyBcqTimings,
  type ResolvedOptions,
  resolveOptions,
} from './options.js';
import {
  dampedF32,
  dampingOf,
  gramAccumulate,
  refitDiag,
  refitOutput,
  type WidthParams,
  widthParams,
} from './refine.js';

export {
  assignCodes,
  type BcqFit,
  BcqFitError,
  type BcqFitOptions,
  fitGroup,
  fitMatrix,
  refitScales,
  solveSpd,
} from './fit.js';
export {
  expandPlane,
  type GptqExpandOptions,
  type GptqFactor,
  type GptqPlanes,
  gptqExpand,
  gptqFactor,
  gptqPlane,
  gptqSelect,
  inverseCholeskyUpper,
} from './gptq.js';
export * from './options.js';
export { refitDiag, refitOutput, type WidthParams } from './refine.js';

const PARTIAL_DIR = '.anybcq-partial';

function formatSeconds(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** f64 → f16 bits, clamped to the finite f16 range. */
function toF16(v: Float64Array): Uint16Array {
  const f = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) f[i] = Math.max(-65504, Math.min(65504, v[i]));
  return f32ToF16(f);
}

/** Rounds a width's parameters to what the container stores (f16), in place. */
function roundToStored(p: WidthParams): WidthParams {
  p.scales.set(f16ToF32(toF16(p.scales)));
  if (p.offsets) p.offsets.set(f16ToF32(toF16(p.offsets)));
  return p;
}

/** One quantized linear as stored: packed planes + f16 tables per width. */
interface StoredLinear {
  name: string;
  rows: number;
  cols: number;
  planes: Uint32Array;
  scales: Map<number, Uint16Array>;
  offsets: Map<number, Uint16Array>;
}

function store(
  name: string,
  fit: BcqFit,
  planes: Uint32Array,
  params: Map<number, WidthParams>,
): StoredLinear {
  const s: StoredLinear = {
    name,
    rows: fit.rows,
    cols: fit.cols,
    planes,
    scales: new Map(),
    offsets: new Map(),
  };
  for (const [b, p] of params) {
    s.scales.set(b, toF16(p.scales));
    if (p.offsets) s.offsets.set(b, toF16(p.offsets));
  }
  return s;
}

function storedDequant(s: StoredLinear, b: number, groupSize: number): Float32Array {
  return dequantizeBcq(s.planes, s.scales.get(b)!, s.offsets.get(b) ?? null, s.rows, s.cols, b, groupSize);
}

/** Settings that decide the output: a checkpoint from other settings is ignored. */
function fingerprint(o: ResolvedOptions): string {
  const { model, calib, bits, baseBits, groupSize, offsets, samples, seqLen, seed, cycles, refine, damp } = o;
  const { blockTarget, weightedFit, codeSelection, gptqRounds, gptqPlanes, actOrder } = o;
  const settings = {
    model,
    calib,
    bits,
    baseBits,
    groupSize,
    offsets,
    samples,
    seqLen,
    seed,
    cycles,
    refine,
    damp,
  };
  const gptq = codeSelection === 'gptq' ? { gptqRounds, gptqPlanes, actOrder } : {};
  return JSON.stringify({ v: 4, ...settings, blockTarget, weightedFit, codeSelection, ...gptq });
}

async function saveCheckpoint(
  dir: string,
  layer: number,
  linears: StoredLinear[],
  print: string,
): Promise<void> {
  const tensors: { name: string; dtype: DType; shape: number[]; data: ArrayBufferView }[] = [];
  for (const s of linears) {
    tensors.push({ name: `${s.name}.planes`, dtype: 'U32', shape: [s.planes.length], data: s.planes });
    for (const [b, v] of s.scales)
      tensors.push({ name: `${s.name}.scales${b}`, dtype: 'F16', shape: [v.length], data: v });
    for (const [b, v] of s.offsets)
      tensors.push({ name: `${s.name}.offsets${b}`, dtype: 'F16', shape: [v.length], data: v });
  }
  await writeSafetensors(join(dir, `layer-${layer}.safetensors`), tensors, { anybcq: print });
}

async function loadCheckpoint(
  dir: string,
  layer: number,
  print: string,
  shapes: { name: string; rows: number; cols: number }[],
  precisions: number[],
  offsets: boolean,
): Promise<StoredLinear[] | null> {
  const path = join(dir, `layer-${layer}.safetensors`);
  if (!existsSync(path)) return null;
  const file = await openSafetensors(path);
  try {
    if (file.metadata.anybcq !== print) return null;
    const out: StoredLinear[] = [];
    for (const { name, rows, cols } of shapes) {
      const u32 = (bytes: Uint8Array) => new Uint32Array(bytes.slice().buffer);
      const u16 = (bytes: Uint8Array) => new Uint16Array(bytes.slice().buffer);
      const s: StoredLinear = {
        name,
        rows,
        cols,
        planes: u32(await file.readTensor(`${name}.planes`)),
        scales: new Map(),
        offsets: new Map(),
      };
      for (const b of precisions) {
        s.scales.set(b, u16(await file.readTensor(`${name}.scales${b}`)));
        if (offsets) s.offsets.set(b, u16(await file.readTensor(`${name}.offsets${b}`)));
      }
      out.push(s);
    }
    return out;
  } catch {
    return null; // unreadable or from another shape: recompute the layer
  } finally {
    await file.close();
  }
}

/** ‖XMᵀ‖² = Σ_r M_r H M_rᵀ for H = XᵀX ([cols, cols] f32), via the backend's matmul. */
function outputEnergy(model: Model, m: Float32Array, h: Float32Array, rows: number, cols: number): number {
  const mh = new Float32Array(rows * cols);
  model.backend.matmul(mh, m, h, 'f32', rows, cols, cols);
  let e = 0;
  for (let i = 0; i < m.length; i++) e += m[i] * mh[i];
  return e;
}

/**
 * Quantizes a Hugging Face causal LM into an AnyBCQ container serving widths
 * baseBits..bits (see this file's header and the package README).
 */
export async function quantizeAnyBcq(options: AnyBcqOptions): Promise<AnyBcqResult> {
  const o = resolveOptions(options);
  const start = performance.now();
  const timings: AnyBcqTimings = {
    loadMs: 0,
    calibrationMs: 0,
    fitMs: 0,
    gptqMs: 0,
    captureMs: 0,
    refineMs: 0,
    propagateMs: 0,
    writeMs: 0,
    totalMs: 0,
  };
  const timed = <T>(key: keyof AnyBcqTimings, fn: () => T): T => {
    const t = performance.now();
    try {
      return fn();
    } finally {
      timings[key] += performance.now() - t;
    }
  };
  let layersDone = 0;
  let layers = 0;
  let layerStart = 0;
  const report = (stage: AnyBcqProgress['stage'], message: string) => {
    if (!o.onProgress) return;
    const elapsedMs = performance.now() - start;
    const etaMs =
      layersDone > 0 && layers > 0
        ? ((performance.now() - layerStart) / layersDone) * (layers - layersDone)
        : null;
    const eta = etaMs === null || stage === 'done' ? '' : ` (ETA ${formatSeconds(etaMs)})`;
    o.onProgress({ stage, layersDone, layers, message: `anybcq: ${message}${eta}`, elapsedMs, etaMs });
  };

  report('load', `loading ${o.model}`);
  const model = await loadModel(o.model, { backend: 'cpu', denseDtype: 'f32', threads: o.threads });
  timings.loadMs = performance.now() - start;
  if (model.manifest)
    throw new AnyBcqOptionsError(
      `--model: ${o.model} is already an anyprec container; quantize the original model`,
    );
  const cfg = model.config;
  layers = cfg.numLayers;
  const precisions = Array.from({ length: o.bits - o.baseBits + 1 }, (_, i) => o.baseBits + i);
  const fitOptions: BcqFitOptions = {
    bits: o.bits,
    baseBits: o.baseBits,
    groupSize: o.groupSize,
    offsets: o.offsets,
    cycles: o.cycles,
  };
  const print = fingerprint(o);
  const partial = join(o.out, PARTIAL_DIR);
  if (!o.resume) await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { recursive: true });

  // Calibration: embedded sequences; hQ[b] follows the model quantized at width b.
  let runner: BlockRunner | null = null;
  let hFp: Float32Array | null = null;
  const hQ = new Map<number, Float32Array>();
  const T = o.samples * o.seqLen;
  if (o.refine !== 'none') {
    report('calibrate', `sampling ${o.samples}×${o.seqLen} tokens from ${o.calib}`);
    const t = performance.now();
    const sample = sampleCalibration({
      path: o.calib!,
      encode: (text) => model.tokenizer.encode(text),
      samples: o.samples,
      seqLen: o.seqLen,
      seed: o.seed,
      bos: cfg.bosTokenId,
    });
    runner = new BlockRunner(model, o.samples, o.seqLen);
    hFp = runner.embed(sample.sequences);
    if (o.refine === 'block') for (const b of precisions) hQ.set(b, hFp.slice());
    timings.calibrationMs = performance.now() - t;
  }

  const done = new Map<string, StoredLinear>();
  const errSums: Record<number, Record<string, number>> = {};
  let errCount = 0;
  let resumedLayers = 0;
  layerStart = performance.now();
  for (let l = 0; l < layers; l++) {
    const linears = blockLinears(l).map(({ key, name }) => {
      const lin = model.getLinear(name);
      return { key, name, rows: lin.rows, cols: lin.cols, site: SITE_OF[key] };
    });
    const resumed = o.resume ? await loadCheckpoint(partial, l, print, linears, precisions, o.offsets) : null;
    if (resumed) {
      resumedLayers++;
      report('layer', `layer ${l + 1}/${layers}: resumed from ${partial}`);
      for (const s of resumed) done.set(s.name, s);
      if (runner && hFp) {
        timed('propagateMs', () => runner!.run(l, hFp!, null));
        for (const [b, h] of hQ) {
          const weights = new Map(resumed.map((s) => [s.name, storedDequant(s, b, o.groupSize)]));
          timed('propagateMs', () => runner!.run(l, h, weights));
        }
      }
      layersDone++;
      continue;
    }

    const weights = new Map(linears.map(({ name }) => [name, model.linearWeightF32(name)]));
    // 1. full-precision inputs of every site (hFp advances to the next block in place)
    const xf = new Map<Site, Float32Array>();
    const hf = new Map<Site, Float64Array>();
    if (runner && hFp) {
      report('layer', `layer ${l + 1}/${layers}: capturing full-precision inputs`);
      timed('captureMs', () => {
        runner!.run(l, hFp!, null, (site, x, row, tokens, cols) => {
          let buf = xf.get(site);
          if (!buf) {
            buf = new Float32Array(T * cols);
            xf.set(site, buf);
          }
          buf.set(x.subarray(0, tokens * cols), row * cols);
        });
        for (const [site, x] of xf) {
          const cols = x.length / T;
          const h = new Float64Array(cols * cols);
          gramAccumulate(h, x, null, T, cols, cols);
          hf.set(site, h);
        }
      });
    }

    // 2. data-free fit
    report('layer', `layer ${l + 1}/${layers}: fitting`);
    const fits = new Map<string, BcqFit>();
    const planes = new Map<string, Uint32Array>();
    const params = new Map<string, Map<number, WidthParams>>();
    // With codeSelection 'gptq', one inverse-Hessian factor per input site (q/k/v and gate/up share).
    const uOfSite = new Map<Site, { f: GptqFactor; lam: number }>();
    timed('fitMs', () => {
      for (const { name, rows, cols, key } of linears) {
        // With weightedFit, every least-squares step of the fit weighs input j by diag(X_fᵀX_f)_j.
        const h = hf.get(SITE_OF[key]);
        let importance: Float64Array | null = null;
        if (o.weightedFit && h) {
          const lam = dampingOf(h, cols, o.damp);
          importance = Float64Array.from({ length: cols }, (_, i) => h[i * cols + i] + lam);
        }
        const fit = fitMatrix(weights.get(name)!, rows, cols, fitOptions, importance);
        fits.set(name, fit);
      }
    });
    if (o.codeSelection === 'gptq') report('layer', `layer ${l + 1}/${layers}: GPTQ-style expansion planes`);
    timed('gptqMs', () => {
      for (const { name, rows, cols, key } of linears) {
        const h = hf.get(SITE_OF[key]);
        const fit = fits.get(name)!;
        if (o.codeSelection === 'gptq' && h) {
          let f = uOfSite.get(SITE_OF[key]);
          if (!f) {
            const lam = dampingOf(h, cols, o.damp);
            f = { f: gptqFactor(h, cols, lam, o.actOrder), lam };
            uOfSite.set(SITE_OF[key], f);
          }
          gptqExpand(weights.get(name)!, fit, h, f.lam, o.cycles, {
            factor: f.f,
            rounds: o.gptqRounds,
            planes: o.gptqPlanes,
          });
        }
        planes.set(name, packSigns(fit.signs, rows, cols, fit.bits));
        params.set(name, new Map(precisions.map((b) => [b, roundToStored(widthParams(fit, b))])));
      }
    });
    // Weights the model runs with: exactly what the container will hold (f16 tables, the
    // format's reference dequantizer), so a resumed run continues bit for bit.
    const stored = (name: string, b: number): Float32Array => {
      const fit = fits.get(name)!;
      const p = params.get(name)!.get(b)!;
      return dequantizeBcq(
        planes.get(name)!,
        toF16(p.scales),
        p.offsets ? toF16(p.offsets) : null,
        fit.rows,
        fit.cols,
        b,
        o.groupSize,
      );
    };

    if (runner && hFp) {
      const hfF32 = new Map([...hf].map(([s, h]) => [s, dampedF32(h, Math.sqrt(h.length), 0)]));
      // Relative output error ‖X_f(Ŵ − W)ᵀ‖² / ‖X_f Wᵀ‖² of every linear, for the result summary.
      const energy = new Map(
        linears.map(({ name, rows, cols, site }) => [
          name,
          outputEnergy(model, weights.get(name)!, hfF32.get(site)!, rows, cols),
        ]),
      );
      const layerError = (stage: string, b: number) => {
        for (const { name, rows, cols, site } of linears) {
          const w = weights.get(name)!;
          const d = stored(name, b);
          for (let i = 0; i < d.length; i++) d[i] -= w[i];
          const e = outputEnergy(model, d, hfF32.get(site)!, rows, cols) / (energy.get(name)! || 1);
          errSums[b] ??= {};
          errSums[b][stage] = (errSums[b][stage] ?? 0) + e;
        }
      };
      for (const b of precisions) layerError('dataFree', b);

      // 3. refine
      if (o.refine === 'diag' || o.refine === 'layer') {
        report('layer', `layer ${l + 1}/${layers}: ${o.refine} refit`);
        timed('refineMs', () => {
          for (const { name, cols, site } of linears) {
            const h = hf.get(site)!;
            const fit = fits.get(name)!;
            const w = weights.get(name)!;
            const lam = dampingOf(h, cols, o.damp);
            const hd = o.refine === 'layer' ? dampedF32(h, cols, lam) : null;
            const diag = Float64Array.from({ length: cols }, (_, i) => h[i * cols + i]);
            for (const b of precisions) {
              const p =
                o.refine === 'diag' ? refitDiag(w, fit, b, diag, o.damp) : refitOutput(w, fit, b, hd!, null);
              params.get(name)!.set(b, roundToStored(p));
            }
          }
        });
      } else if (o.refine === 'block') {
        for (const b of precisions) {
          // Block-wise, in the block's order (q/k/v, o, gate/up, down): each site's inputs X_q
          // come from the model quantized at width b up to here, with this block's earlier
          // linears already refined; targets mix X_f·Wᵀ and X_q·Wᵀ (blockTarget).
          report('layer', `layer ${l + 1}/${layers}: block reconstruction, width ${b}`);
          const current = new Map(linears.map(({ name }) => [name, stored(name, b)]));
          for (const site of SITES) {
            let hq: Float64Array | null = null;
            let cq: Float64Array | null = null;
            timed('captureMs', () => {
              runner!.run(
                l,
                hQ.get(b)!.slice(),
                current,
                (s, x, row, tokens, cols) => {
                  if (s !== site) return;
                  hq ??= new Float64Array(cols * cols);
                  cq ??= new Float64Array(cols * cols);
                  const xs = x.subarray(0, tokens * cols);
                  gramAccumulate(hq, xs, null, tokens, cols, cols);
                  if (o.blockTarget > 0)
                    gramAccumulate(
                      cq,
                      xs,
                      xf.get(site)!.subarray(row * cols, (row + tokens) * cols),
                      tokens,
                      cols,
                      cols,
                    );
                },
                site,
              );
            });
            timed('refineMs', () => {
              const h = hq!;
              const cols = Math.sqrt(h.length);
              const lam = dampingOf(h, cols, o.damp);
              // C = t·X_qᵀX_f + (1 − t)·X_qᵀX_q
              const c = new Float64Array(h.length);
              for (let i = 0; i < c.length; i++) c[i] = o.blockTarget * cq![i] + (1 - o.blockTarget) * h[i];
              const hd = dampedF32(h, cols, lam);
              const cd = dampedF32(c, cols, lam);
              for (const { name, site: s } of linears) {
                if (s !== site) continue;
                const p = roundToStored(refitOutput(weights.get(name)!, fits.get(name)!, b, hd, cd));
                params.get(name)!.set(b, p);
                current.set(name, stored(name, b));
              }
            });
          }
          // 4. carry width b's hidden states through the refined block
          timed('propagateMs', () => runner!.run(l, hQ.get(b)!, current));
        }
      }
      if (o.refine !== 'none') for (const b of precisions) layerError(o.refine, b);
      errCount += linears.length;
    }

    const layerStored = linears.map(({ name }) =>
      store(name, fits.get(name)!, planes.get(name)!, params.get(name)!),
    );
    for (const s of layerStored) done.set(s.name, s);
    await saveCheckpoint(partial, l, layerStored, print);
    layersDone++;
    report('layer', `layer ${l + 1}/${layers}: done`);
  }

  report('write', `writing ${o.out}`);
  const tw = performance.now();
  const byTensor = new Map<string, ArrayBufferView>();
  for (const s of done.values()) {
    byTensor.set(`${s.name}.planes`, s.planes);
    for (const [b, v] of s.scales) byTensor.set(`${s.name}.scales${b}`, v);
    for (const [b, v] of s.offsets) byTensor.set(`${s.name}.offsets${b}`, v);
  }
  const { onProgress: _p, threads: _t, out: _o, resume: _r, ...settings } = o;
  await writeContainerDir({
    outDir: o.out,
    sourceDir: o.model,
    method: 'anybcq',
    parentBits: o.bits,
    precisions,
    groupSize: o.groupSize,
    offsets: o.offsets,
    quantizer: { name: 'anybcq', ...settings },
    layers: [...done.values()].map((s) => ({ base: s.name, rows: s.rows, cols: s.cols })),
    getData: (name) => byTensor.get(name),
  });
  await rm(partial, { recursive: true, force: true });
  timings.writeMs = performance.now() - tw;
  timings.totalMs = performance.now() - start;
  report('done', `wrote ${o.out} in ${(timings.totalMs / 1000).toFixed(1)} s`);

  const outputError: AnyBcqResult['outputError'] = {};
  if (errCount > 0) {
    for (const [b, stages] of Object.entries(errSums)) {
      outputError[Number(b)] = Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, v / errCount]));
    }
  }
  return { out: o.out, precisions, resumedLayers, settings, timings, outputError };
}
