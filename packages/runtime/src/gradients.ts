// Weight gradients of the LM loss by a backward pass of the Llama executor, and the
// empirical Fisher diagonal the Any-Precision quantizer weights its k-means with
// (../shared/reference/anyprecision.md §1.2, after SqueezeLLM): for every decoder linear W,
//   F(W) = Σ_s (∂L_s/∂W)²,   L_s = mean cross-entropy of sequence s with labels = inputs
// (T-1 predictions for a T-token sequence), one sequence at a time. Computed in f32.
//
// Notation as in models/llama.ts: T tokens, D hidden, H/KV heads, hd head dim, F ffn, V vocab.
import type { Backend } from './backends/backend.js';
import { RuntimeArgumentError } from './errors.js';
import { FULL_PRECISION, type LinearKey, type LlamaModel, linearName } from './models/llama.js';
import { decodeHalfRow } from './numeric.js';

export interface FisherOptions {
  /** Precision whose (dequantized) weights are differentiated (containers); default the model's default. */
  precision?: number;
  /** Called after each sequence with (sequences done, total). */
  onProgress?: (done: number, total: number) => void;
}

const tapes = new WeakMap<LlamaModel, LayerTape[]>();

/** Activations of one layer kept from the forward pass for the backward pass. */
interface LayerTape {
  xIn: Float32Array; // [T, D] residual stream entering the layer
  h1: Float32Array; // [T, D] input_layernorm output (q/k/v input)
  q: Float32Array; // [T, H, hd] after RoPE
  k: Float32Array; // [T, KV, hd] after RoPE
  v: Float32Array; // [T, KV, hd]
  attn: Float32Array; // [T, H, hd] attention output (o_proj input)
  xMid: Float32Array; // [T, D] residual after attention
  h2: Float32Array; // [T, D] post_attention_layernorm output (gate/up input)
  gate: Float32Array; // [T, F] pre-activation
  up: Float32Array; // [T, F]
  sig: Float32Array; // [T, F] sigmoid(gate), so the backward pass needs no exp
  probs: Float32Array; // [H, T, T] attention probabilities (causal, zeros above the diagonal)
}

function rmsNormForward(
  out: Float32Array,
  x: Float32Array,
  w: Float32Array,
  T: number,
  D: number,
  eps: number,
): void {
  for (let t = 0; t < T; t++) {
    let ss = 0;
    for (let i = 0; i < D; i++) ss += x[t * D + i] * x[t * D + i];
    const r = 1 / Math.sqrt(ss / D + eps);
    for (let i = 0; i < D; i++) out[t * D + i] = Math.fround(x[t * D + i] * r) * w[i];
  }
}

/** Row-wise softmax of scores [T, T] over j <= i, zeros above the diagonal, in place. */
function causalSoftmax(p: Float32Array, T: number): void {
  for (let i = 0; i < T; i++) {
    const o = i * T;
    let max = Number.NEGATIVE_INFINITY;
    for (let j = 0; j <= i; j++) if (p[o + j] > max) max = p[o + j];
    let sum = 0;
    for (let j = 0; j <= i; j++) {
      const e = Math.exp(p[o + j] - max);
      p[o + j] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let j = 0; j <= i; j++) p[o + j] *= inv;
    p.fill(0, o + i + 1, o + T);
  }
}

/** dx += ∂/∂x of y = x·r(x)·w given dy: dx = r·(w⊙dy) − x·r³·Σ(w⊙dy⊙x)/D. */
function rmsNormBackward(
  dx: Float32Array,
  x: Float32Array,
  w: Float32Array,
  dy: Float32Array,
  T: number,
  D: number,
  eps: number,
): void {
  for (let t = 0; t < T; t++) {
    const o = t * D;
    let ss = 0;
    let dot = 0;
    for (let i = 0; i < D; i++) {
      ss += x[o + i] * x[o + i];
      dot += w[i] * dy[o + i] * x[o + i];
    }
    const r = 1 / Math.sqrt(ss / D + eps);
    const c = (r * r * r * dot) / D;
    for (let i = 0; i < D; i++) dx[o + i] += r * w[i] * dy[o + i] - x[o + i] * c;
  }
}

/** Dense f32 weights of every decoder linear (dequantized at `precision`) and the embedding. */
function f32Weights(
  model: LlamaModel,
  precision: number,
): { linears: Map<string, Float32Array>; embed: Float32Array } {
  const linears = new Map<string, Float32Array>();
  for (const name of model.linearNames()) linears.set(name, model.linearWeightF32(name, precision));
  const { embed: e, embedDtype } = model.weights;
  let embed: Float32Array;
  if (embedDtype === 'f32') embed = e as Float32Array;
  else {
    embed = new Float32Array(e.length);
    decodeHalfRow(e as Uint16Array, embedDtype, 0, e.length, embed);
  }
  return { linears, embed };
}

/**
 * Sum over `sequences` of the squared gradient of each sequence's mean LM loss with respect
 * to every decoder linear weight, keyed by HF base name (`model.layers.0.self_attn.q_proj`),
 * each [rows, cols] like the weight. lm_head/embeddings are not included: the quantizers
 * never quantize them (and here the head is tied to the embedding).
 */
export function fisherDiagonal(
  model: LlamaModel,
  sequences: number[][],
  options: FisherOptions = {},
): Map<string, Float32Array> {
  const precision = options.precision ?? model.defaultPrecision;
  model.checkPrecision(precision);
  if (model.weights.lmHead.kind !== 'dense')
    throw new RuntimeArgumentError('fisherDiagonal: a quantized lm_head is not supported');
  const weights = f32Weights(model, precision);
  const head = model.weights.lmHead;
  const headF32 =
    head.name === 'lm_head' && head.weight === model.weights.embed
      ? weights.embed
      : model.linearWeightF32('lm_head');
  const fisher = new Map<string, Float32Array>();
  const grads = new Map<string, Float32Array>();
  for (const [name, w] of weights.linears) {
    fisher.set(name, new Float32Array(w.length));
    grads.set(name, new Float32Array(w.length));
  }
  sequences.forEach((tokens, s) => {
    if (tokens.length < 2)
      throw new RuntimeArgumentError(
        `fisherDiagonal: sequence ${s} has ${tokens.length} tokens; at least 2 are needed`,
      );
    sequenceGradients(model, tokens, weights.linears, headF32, grads);
    for (const [name, g] of grads) {
      const f = fisher.get(name) as Float32Array;
      for (let i = 0; i < g.length; i++) f[i] += g[i] * g[i];
    }
    options.onProgress?.(s + 1, sequences.length);
  });
  return fisher;
}

/**
 * ∂L/∂W for every decoder linear for one sequence (L = mean CE over its T-1 predictions),
 * written into `grads` (arrays reused when present). `linears`: dense f32 weights by name;
 * `head`: f32 lm_head [V, D].
 */
export function sequenceGradients(
  model: LlamaModel,
  tokens: number[],
  linears: Map<string, Float32Array>,
  head: Float32Array,
  grads: Map<string, Float32Array> = new Map(),
): Map<string, Float32Array> {
  const cfg = model.config;
  const {
    hiddenSize: D,
    numHeads: H,
    numKvHeads: KV,
    headDim: hd,
    intermediateSize: F,
    vocabSize: V,
    rmsNormEps: eps,
    numLayers: L,
  } = cfg;
  const b: Backend = model.backend;
  const T = tokens.length;
  if (cfg.slidingWindow !== null && T > cfg.slidingWindow) {
    throw new RuntimeArgumentError(
      `sequenceGradients: ${T} tokens exceed sliding_window ${cfg.slidingWindow}, which the backward pass does not implement`,
    );
  }
  const QD = H * hd;
  const KD = KV * hd;
  const W = (l: number, key: LinearKey) => linears.get(linearName(l, key)) as Float32Array;
  const scale = 1 / Math.sqrt(hd);
  model.ensureRope(T);

  // ---- forward, keeping the tape
  const x = model.embed(tokens); // [T, D]
  // the tape is fully overwritten each pass: reuse the previous sequence's when shapes match
  let tape = tapes.get(model);
  if (!tape || tape[0].xIn.length !== T * D) {
    tape = Array.from({ length: L }, () => ({
      xIn: new Float32Array(T * D),
      h1: new Float32Array(T * D),
      q: new Float32Array(T * QD),
      k: new Float32Array(T * KD),
      v: new Float32Array(T * KD),
      attn: new Float32Array(T * QD),
      xMid: new Float32Array(T * D),
      h2: new Float32Array(T * D),
      gate: new Float32Array(T * F),
      up: new Float32Array(T * F),
      sig: new Float32Array(T * F),
      probs: new Float32Array(H * T * T),
    }));
    tapes.set(model, tape);
  }
  for (let l = 0; l < L; l++) {
    const layer = model.weights.layers[l];
    const t = tape[l];
    t.xIn.set(x);
    rmsNormForward(t.h1, x, layer.inputNorm, T, D, eps);
    model.linear(
      t.q,
      t.h1,
      { ...layer.q, kind: 'dense', weight: W(l, 'q'), dtype: 'f32' },
      T,
      FULL_PRECISION,
    );
    model.linear(
      t.k,
      t.h1,
      { ...layer.k, kind: 'dense', weight: W(l, 'k'), dtype: 'f32' },
      T,
      FULL_PRECISION,
    );
    model.linear(
      t.v,
      t.h1,
      { ...layer.v, kind: 'dense', weight: W(l, 'v'), dtype: 'f32' },
      T,
      FULL_PRECISION,
    );
    model.rope(t.q, 0, T, H, 0);
    model.rope(t.k, 0, T, KV, 0);
    // attention as P = softmax(q·kᵀ·scale + causal mask), out = P·v, keeping P for the backward pass
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / (H / KV));
      const probs = t.probs.subarray(h * T * T, (h + 1) * T * T);
      b.sgemm(false, true, T, T, hd, scale, t.q.subarray(h * hd), QD, t.k.subarray(g * hd), KD, 0, probs, T);
      causalSoftmax(probs, T);
      b.sgemm(false, false, T, hd, T, 1, probs, T, t.v.subarray(g * hd), KD, 0, t.attn.subarray(h * hd), QD);
    }
    const proj = new Float32Array(T * D);
    b.matmul(proj, t.attn, W(l, 'o'), 'f32', T, D, QD);
    for (let i = 0; i < T * D; i++) x[i] += proj[i];
    t.xMid.set(x);
    rmsNormForward(t.h2, x, layer.postAttentionNorm, T, D, eps);
    model.linear(
      t.gate,
      t.h2,
      { ...layer.gate, kind: 'dense', weight: W(l, 'gate'), dtype: 'f32' },
      T,
      FULL_PRECISION,
    );
    model.linear(
      t.up,
      t.h2,
      { ...layer.up, kind: 'dense', weight: W(l, 'up'), dtype: 'f32' },
      T,
      FULL_PRECISION,
    );
    const m = new Float32Array(T * F);
    const { gate, up, sig } = t;
    for (let i = 0; i < T * F; i++) {
      const sg = 1 / (1 + Math.exp(-gate[i]));
      sig[i] = sg;
      m[i] = gate[i] * sg * up[i];
    }
    model.linear(
      proj,
      m,
      { ...layer.down, kind: 'dense', weight: W(l, 'down'), dtype: 'f32' },
      T,
      FULL_PRECISION,
    );
    for (let i = 0; i < T * D; i++) x[i] += proj[i];
  }

  // ---- loss head: logits of positions 0..T-2, dlogits = (softmax − onehot)/(T−1)
  const P = T - 1;
  const hf = new Float32Array(T * D);
  rmsNormForward(hf, x, model.weights.norm, T, D, eps);
  const dlogits = new Float32Array(P * V); // [P, V]
  b.matmul(dlogits, hf, head, 'f32', P, V, D);
  for (let t = 0; t < P; t++) {
    const o = t * V;
    let max = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < V; i++) if (dlogits[o + i] > max) max = dlogits[o + i];
    let sum = 0;
    for (let i = 0; i < V; i++) {
      const e = Math.exp(dlogits[o + i] - max);
      dlogits[o + i] = e;
      sum += e;
    }
    const norm = 1 / (sum * P);
    for (let i = 0; i < V; i++) dlogits[o + i] *= norm;
    dlogits[o + tokens[t + 1]] -= 1 / P;
  }
  const dhf = new Float32Array(T * D); // row T-1 stays 0
  b.sgemm(false, false, P, D, V, 1, dlogits, V, head, D, 0, dhf, D);
  let dx = new Float32Array(T * D);
  rmsNormBackward(dx, x, model.weights.norm, dhf, T, D, eps);

  // ---- layers in reverse
  const dW = (l: number, key: LinearKey) => {
    const name = linearName(l, key);
    let g = grads.get(name);
    if (!g) {
      g = new Float32Array(W(l, key).length);
      grads.set(name, g);
    }
    return g;
  };
  const m = new Float32Array(T * F);
  const dm = new Float32Array(T * F);
  const dg = new Float32Array(T * F);
  const du = new Float32Array(T * F);
  const dh = new Float32Array(T * D);
  const dattn = new Float32Array(T * QD);
  const dq = new Float32Array(T * QD);
  const dk = new Float32Array(T * KD);
  const dv = new Float32Array(T * KD);
  const dprobs = new Float32Array(T * T);
  for (let l = L - 1; l >= 0; l--) {
    const t = tape[l];
    const layer = model.weights.layers[l];
    // MLP: x_out = x_mid + m·Wdᵀ, m = silu(g) ⊙ u
    const { gate, up, sig } = t;
    for (let i = 0; i < T * F; i++) m[i] = gate[i] * sig[i] * up[i];
    b.sgemm(true, false, D, F, T, 1, dx, D, m, F, 0, dW(l, 'down'), F); // dWd [D, F] = dxᵀ·m
    b.sgemm(false, false, T, F, D, 1, dx, D, W(l, 'down'), F, 0, dm, F); // dm [T, F] = dx·Wd
    for (let i = 0; i < T * F; i++) {
      const g = gate[i];
      const sg = sig[i];
      du[i] = dm[i] * g * sg;
      dg[i] = dm[i] * up[i] * sg * (1 + g * (1 - sg));
    }
    b.sgemm(true, false, F, D, T, 1, dg, F, t.h2, D, 0, dW(l, 'gate'), D);
    b.sgemm(true, false, F, D, T, 1, du, F, t.h2, D, 0, dW(l, 'up'), D);
    b.sgemm(false, false, T, D, F, 1, dg, F, W(l, 'gate'), D, 0, dh, D);
    b.sgemm(false, false, T, D, F, 1, du, F, W(l, 'up'), D, 1, dh, D);
    const dxMid = dx; // gradient flows through the residual unchanged
    rmsNormBackward(dxMid, t.xMid, layer.postAttentionNorm, dh, T, D, eps);

    // attention output: x_mid = x_in + attn·Woᵀ
    b.sgemm(true, false, D, QD, T, 1, dxMid, D, t.attn, QD, 0, dW(l, 'o'), QD);
    b.sgemm(false, false, T, QD, D, 1, dxMid, D, W(l, 'o'), QD, 0, dattn, QD);

    // attention: per head, P = softmax(q·kᵀ·scale + causal mask), out = P·v
    dk.fill(0);
    dv.fill(0);
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / (H / KV));
      const qh = t.q.subarray(h * hd);
      const kg = t.k.subarray(g * hd);
      const vg = t.v.subarray(g * hd);
      const doh = dattn.subarray(h * hd);
      const oh = t.attn.subarray(h * hd);
      const probs = t.probs.subarray(h * T * T, (h + 1) * T * T);
      b.sgemm(false, true, T, T, hd, 1, doh, QD, vg, KD, 0, dprobs, T); // dP = dO·vᵀ
      for (let i = 0; i < T; i++) {
        // dS = P ⊙ (dP − Σ_j dP·P), and Σ_j dP_ij·P_ij = dO_i·O_i
        let rowDot = 0;
        for (let d = 0; d < hd; d++) rowDot += doh[i * QD + d] * oh[i * QD + d];
        const o = i * T;
        for (let j = 0; j <= i; j++) dprobs[o + j] = probs[o + j] * (dprobs[o + j] - rowDot);
        for (let j = i + 1; j < T; j++) dprobs[o + j] = 0;
      }
      b.sgemm(false, false, T, hd, T, scale, dprobs, T, kg, KD, 0, dq.subarray(h * hd), QD); // dq = dS·k·scale
      b.sgemm(true, false, T, hd, T, scale, dprobs, T, qh, QD, 1, dk.subarray(g * hd), KD); // dk += dSᵀ·q·scale
      b.sgemm(true, false, T, hd, T, 1, probs, T, doh, QD, 1, dv.subarray(g * hd), KD); // dv += Pᵀ·dO
    }
    model.rope(dq, 0, T, H, 0, true);
    model.rope(dk, 0, T, KV, 0, true);
    b.sgemm(true, false, QD, D, T, 1, dq, QD, t.h1, D, 0, dW(l, 'q'), D);
    b.sgemm(true, false, KD, D, T, 1, dk, KD, t.h1, D, 0, dW(l, 'k'), D);
    b.sgemm(true, false, KD, D, T, 1, dv, KD, t.h1, D, 0, dW(l, 'v'), D);
    b.sgemm(false, false, T, D, QD, 1, dq, QD, W(l, 'q'), D, 0, dh, D);
    b.sgemm(false, false, T, D, KD, 1, dk, KD, W(l, 'k'), D, 1, dh, D);
    b.sgemm(false, false, T, D, KD, 1, dv, KD, W(l, 'v'), D, 1, dh, D);
    rmsNormBackward(dxMid, t.xIn, layer.inputNorm, dh, T, D, eps);
    dx = dxMid;
  }
  return grads;
}
