import { type InspectReport, inspectModel } from '@anyprec/format/node';
import { type Program, printJson } from '../run.js';

const MiB = 1024 * 1024;
const fmtBytes = (n: number) =>
  n >= MiB ? `${(n / MiB).toFixed(2)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`;

/** Text report; `tensorRows` caps the tensor table (0 = none, Infinity = all). */
function printText(r: InspectReport, tensorRows: number): void {
  const lines: string[] = [];
  const out = (s = '') => lines.push(s);
  out(`${r.path}: ${r.kind}, ${r.files.length} file(s), ${r.tensorCount} tensors, ${fmtBytes(r.totalBytes)}`);
  if (r.config) {
    const c = r.config;
    out(
      `config   ${c.architecture} layers=${c.numLayers} hidden=${c.hiddenSize} ffn=${c.intermediateSize} heads=${c.numHeads}/${c.numKvHeads} headDim=${c.headDim} vocab=${c.vocabSize} tied=${c.tieWordEmbeddings} dtype=${c.dtype}`,
    );
  } else if (r.configError) {
    out(`config   (not usable: ${r.configError})`);
  }
  if (Object.keys(r.metadata).length > 0) out(`metadata ${JSON.stringify(r.metadata)}`);
  if (r.manifest) {
    const m = r.manifest;
    const extra =
      m.method === 'anybcq'
        ? ` groupSize=${m.groupSize} offsets=${m.offsets}`
        : m.seedBits !== undefined
          ? ` seedBits=${m.seedBits}`
          : '';
    out(
      `container ${m.format} ${m.version} method=${m.method} layout=${m.layout} parentBits=${m.parentBits}${extra} quantized=${m.quantized.length} layers, ${m.checksumCount} checksums`,
    );
  }
  out();
  out('bytes read per token (weights, batch 1):');
  for (const b of r.bytesPerToken) {
    const label = b.precision === null ? 'dense' : `${b.precision}-bit`;
    out(
      `  ${label.padEnd(6)} ${fmtBytes(b.total).padStart(12)}  (planes ${fmtBytes(b.planes)}, tables ${fmtBytes(b.tables)}, dense ${fmtBytes(b.dense)}, embedding row ${fmtBytes(b.embeddingRow)})`,
    );
  }
  if (tensorRows === 0) {
    out(`${r.tensors.length} tensors (--all lists them, --json prints everything)`);
  } else {
    out();
    const rows = tensorRows === Infinity ? r.tensors : r.tensors.slice(0, tensorRows);
    const width = Math.max(4, ...rows.map((t) => t.name.length));
    out(`${'name'.padEnd(width)}  dtype  ${'shape'.padEnd(18)} bytes`);
    for (const t of rows)
      out(
        `${t.name.padEnd(width)}  ${t.dtype.padEnd(5)}  ${`[${t.shape.join(', ')}]`.padEnd(18)} ${t.bytes}`,
      );
    if (rows.length < r.tensors.length)
      out(`... ${r.tensors.length - rows.length} more (--all lists every tensor, --json prints everything)`);
  }
  // one write; a closed pipe (`| head`) is not an error worth a stack trace
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** `anyprec inspect`: list tensors, metadata and served precisions of a model directory, safetensors file or container. */
export function register(program: Program): void {
  program
    .command('inspect')
    .description(
      'list tensors, metadata and served precisions of a model directory, safetensors file or container',
    )
    .argument(
      '<path>',
      'model directory, container directory, .safetensors file or model.safetensors.index.json',
    )
    .option('--json', 'print one JSON object on stdout')
    .option('--all', 'list every tensor (text output)')
    .option('--summary', 'no tensor table, only the header and the bytes per precision (text output)')
    .action(async (path, options) => {
      const report = await inspectModel(path);
      if (options.json) return printJson(report);
      printText(report, options.summary ? 0 : options.all ? Number.POSITIVE_INFINITY : 40);
    });
}
