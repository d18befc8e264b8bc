// Which linear layers get quantized. Default: every decoder linear (attention q/k/v/o and
// MLP gate/up/down of every `model.layers.<i>`); `lm_head` only on request.
import type { OpenedModel } from '@anyprec/format/node';
import { AnyPrecOptionsError } from './errors.js';

/** One linear layer to quantize: HF weight `<base>.weight`, [rows = out_features, cols = in_features]. */
export interface LinearLayer {
  base: string;
  rows: number;
  cols: number;
  /** Decoder layer index, or -1 for lm_head. */
  layer: number;
}

const DECODER_LINEAR = /^model\.layers\.(\d+)\.(self_attn|mlp)\.([a-z_]+_proj)\.weight$/;

export interface LinearSelection {
  /** Also quantize `lm_head` (needs an untied `lm_head.weight`). Default false. */
  lmHead?: boolean;
  /**
   * Keep only linears whose base name matches one of these: a string is a substring
   * (`"mlp."`, `"q_proj"`), a RegExp is tested as is. Default: all decoder linears.
   */
  include?: (string | RegExp)[];
}

/** The linears of a model to quantize, in decoder-layer order (lm_head last). */
export function selectLinears(model: OpenedModel, selection: LinearSelection = {}): LinearLayer[] {
  const out: LinearLayer[] = [];
  for (const [name, info] of model.tensors) {
    const match = DECODER_LINEAR.exec(name);
    if (!match) continue;
    const base = name.slice(0, -'.weight'.length);
    if (
      selection.include &&
      !selection.include.some((p) => (typeof p === 'string' ? base.includes(p) : p.test(base)))
    )
      continue;
    out.push(check(model, base, info.shape, Number(match[1])));
  }
  out.sort((a, b) => a.layer - b.layer || a.base.localeCompare(b.base));
  if (selection.lmHead) {
    const info = model.tensors.get('lm_head.weight');
    if (!info) {
      throw new AnyPrecOptionsError(
        `${model.dir}: lm_head is tied to model.embed_tokens (no lm_head.weight tensor); quantizing it would untie the embeddings: drop --lm-head`,
      );
    }
    out.push(check(model, 'lm_head', info.shape, -1));
  }
  if (out.length === 0) throw new AnyPrecOptionsError(`${model.dir}: no linear layer matches the selection`);
  return out;
}

function check(model: OpenedModel, base: string, shape: readonly number[], layer: number): LinearLayer {
  if (shape.length !== 2)
    throw new AnyPrecOptionsError(`${model.dir}: ${base}.weight has shape [${shape}], expected [rows, cols]`);
  const [rows, cols] = shape;
  if (cols % 32 !== 0) {
    throw new AnyPrecOptionsError(
      `${model.dir}: ${base}.weight has ${cols} input columns; the bit-plane layout needs a multiple of 32`,
    );
  }
  return { base, rows, cols, layer };
}
