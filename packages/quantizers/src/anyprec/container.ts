// Writes the Any-Precision container through @anyprec/format's writeContainerDir: for each
// quantized linear, the parent indices become bit-planes (plane 0 = MSB, layout v1) and the
// f16 tables of every width seed..parent become `<base>.lut<b>`. Layers are read back from
// the work directory one at a time, so memory stays bounded by one layer.
import { lutName, type OpenedModel, packPlanes, planesName, writeContainerDir } from '@anyprec/format/node';
import type { LinearLayer } from './linears.js';
import type { LayerResult } from './workdir.js';

export interface AnyPrecContainerOptions {
  model: OpenedModel;
  out: string;
  linears: LinearLayer[];
  seedBits: number;
  parentBits: number;
  readLayer: (linear: LinearLayer) => Promise<LayerResult>;
  quantizer: Record<string, unknown>;
  /** Keep container shards an interrupted run of the same job already finished. */
  resume: boolean;
}

export async function writeAnyPrecContainer(options: AnyPrecContainerOptions): Promise<void> {
  const { seedBits, parentBits } = options;
  const byBase = new Map(options.linears.map((l) => [l.base, l]));
  const tensorOf = new Map<string, { linear: LinearLayer; role: 'planes' | number }>();
  for (const l of options.linears) {
    tensorOf.set(planesName(l.base), { linear: l, role: 'planes' });
    for (let b = seedBits; b <= parentBits; b++) tensorOf.set(lutName(l.base, b), { linear: l, role: b });
  }
  let current: { base: string; result: LayerResult } | null = null;
  const precisions: number[] = [];
  for (let b = seedBits; b <= parentBits; b++) precisions.push(b);
  await writeContainerDir({
    outDir: options.out,
    sourceDir: options.model.dir,
    method: 'anyprec',
    parentBits,
    seedBits,
    precisions,
    quantizer: options.quantizer,
    layers: options.linears.map(({ base, rows, cols }) => ({ base, rows, cols })),
    resume: options.resume,
    getData: async (name) => {
      const t = tensorOf.get(name);
      if (!t) return undefined;
      if (current?.base !== t.linear.base)
        current = { base: t.linear.base, result: await options.readLayer(byBase.get(t.linear.base)!) };
      const { linear } = t;
      if (t.role === 'planes')
        return packPlanes(current.result.indices, linear.rows, linear.cols, parentBits);
      return current.result.luts[t.role - seedBits];
    },
  });
}
