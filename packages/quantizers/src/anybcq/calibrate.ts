// Runs one decoder block of the runtime's model over all calibration sequences, optionally
// with some linears replaced by dense f32 weights, reporting each linear input site.
import { LINEAR_KEYS, type LinearKey, linearName, type Model } from '@anyprec/runtime';

/** Distinct linear inputs of a block: q/k/v share one, gate/up share one. */
export type Site = 'attn' | 'o' | 'mlp' | 'down';
export const SITES: readonly Site[] = ['attn', 'o', 'mlp', 'down'];
export const SITE_OF: Record<LinearKey, Site> = {
  q: 'attn',
  k: 'attn',
  v: 'attn',
  o: 'o',
  gate: 'mlp',
  up: 'mlp',
  down: 'down',
};
/** The linear whose input hook stands for each site. */
const SITE_KEY: Record<Site, LinearKey> = { attn: 'q', o: 'o', mlp: 'gate', down: 'down' };

/** Thrown from a hook to end a batch early (the rest of the block is not needed). */
class StopBlock extends Error {}

/** x [tokens, cols] entering `site`, for calibration rows [row, row + tokens). */
export type SiteHook = (site: Site, x: Float32Array, row: number, tokens: number, cols: number) => void;

export class BlockRunner {
  private readonly caches: ReturnType<Model['newCache']>[];
  private readonly batchSeqs: number;

  constructor(
    private readonly model: Model,
    private readonly samples: number,
    private readonly seqLen: number,
    batchTokens = 2048,
  ) {
    this.batchSeqs = Math.max(1, Math.min(samples, Math.floor(batchTokens / seqLen)));
    // runLayer writes keys/values at each cache's length, which stays 0: caches are reusable.
    this.caches = Array.from({ length: this.batchSeqs }, () => model.newCache(seqLen));
    for (const c of this.caches) c.reserve(seqLen);
    // RoPE tables are built lazily by the model's own entry points; runBlock on one sequence
    // of zeros builds them for seqLen positions.
    const D = model.config.hiddenSize;
    model.runBlock(0, new Float32Array(seqLen * D), seqLen);
  }

  /** Embeds all sequences: [samples·seqLen, D]. */
  embed(sequences: Int32Array[]): Float32Array {
    const D = this.model.config.hiddenSize;
    const out = new Float32Array(this.samples * this.seqLen * D);
    sequences.forEach((seq, i) => {
      this.model.embed(seq, out.subarray(i * this.seqLen * D, (i + 1) * this.seqLen * D));
    });
    return out;
  }

  /**
   * Runs block `layer` in place on hidden [samples·seqLen, D] with `weights` (HF base name →
   * dense f32 [rows, cols]) replacing the model's linears for this run only. With `stopAfter`,
   * each batch stops right after that site's input has been reported (hidden is then left
   * partly updated: pass a copy).
   */
  run(
    layer: number,
    hidden: Float32Array,
    weights: Map<string, Float32Array> | null,
    hook?: SiteHook,
    stopAfter?: Site,
  ): void {
    const { model, seqLen } = this;
    const D = model.config.hiddenSize;
    const siteOfName = new Map(SITES.map((s) => [linearName(layer, SITE_KEY[s]), s] as const));
    try {
      for (const [name, w] of weights ?? []) model.setLinearWeights(name, w);
      for (let s0 = 0; s0 < this.samples; s0 += this.batchSeqs) {
        const nb = Math.min(this.batchSeqs, this.samples - s0);
        const x = hidden.subarray(s0 * seqLen * D, (s0 + nb) * seqLen * D);
        const segments = Array.from({ length: nb }, (_, i) => ({
          cache: this.caches[i],
          row: i * seqLen,
          tokens: seqLen,
          precision: model.defaultPrecision,
        }));
        const row0 = s0 * seqLen;
        const stopIndex = stopAfter ? SITES.indexOf(stopAfter) : SITES.length;
        try {
          model.runLayer(
            layer,
            x,
            segments,
            hook
              ? {
                  onLinearInput: (name, xin, tokens, cols) => {
                    const site = siteOfName.get(name);
                    if (!site) return;
                    if (SITES.indexOf(site) > stopIndex) throw new StopBlock();
                    hook(site, xin, row0, tokens, cols);
                    // The site's own matmul and everything after it are not needed.
                    if (site === stopAfter) throw new StopBlock();
                  },
                }
              : undefined,
          );
        } catch (err) {
          if (!(err instanceof StopBlock)) throw err;
        }
      }
    } finally {
      for (const name of weights?.keys() ?? []) model.setLinearWeights(name, null);
    }
  }
}

/** HF base names of the 7 linears of a block with their keys. */
export function blockLinears(layer: number): { key: LinearKey; name: string }[] {
  return LINEAR_KEYS.map((key) => ({ key, name: linearName(layer, key) }));
}
