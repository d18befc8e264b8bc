// The resumable working directory of a quantization run, `<out>/.anyprec-work/`:
//   state.json               options that decide the result (a resume must match them)
//   sensitivity/<base>.f32   Fisher diagonal per linear (raw little-endian f32), then
//   sensitivity/complete     written once every linear's file is there (the sensitivity
//                            directory can instead be a cache shared by several runs)
//   layers/<base>.bin        one finished linear: parent indices (u8 [rows*cols]) followed by
//                            the f16 tables of widths seed..parent (u16 [rows, 2^b] each)
// Every file is written to a temporary name and renamed, so a file that exists is complete:
// an interrupted run continues after the last finished linear.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ResumeMismatchError } from './errors.js';
import type { LinearLayer } from './linears.js';

export const WORK_DIR = '.anyprec-work';

export interface LayerResult {
  indices: Uint8Array;
  /** f16 tables for widths seedBits..parentBits. */
  luts: Uint16Array[];
}

export class WorkDir {
  readonly dir: string;
  /** Where sensitivities live: inside the work dir, or a shared cache directory. */
  readonly sensitivityDir: string;
  constructor(
    out: string,
    readonly seedBits: number,
    readonly parentBits: number,
    sensitivityDir?: string,
  ) {
    this.dir = join(out, WORK_DIR);
    this.sensitivityDir = sensitivityDir ?? join(this.dir, 'sensitivity');
  }

  /** Creates the directory, or checks that an existing one was started with the same fingerprint. */
  async open(fingerprint: Record<string, unknown>): Promise<{ resumed: boolean }> {
    const statePath = join(this.dir, 'state.json');
    const wanted = JSON.stringify(fingerprint);
    if (existsSync(statePath)) {
      const have = JSON.stringify(JSON.parse(await readFile(statePath, 'utf8')).fingerprint);
      if (have !== wanted) {
        throw new ResumeMismatchError(
          `${this.dir} holds a partial run with other options (${have}); rerun with those options, or delete the output directory to start over`,
        );
      }
      return { resumed: true };
    }
    await mkdir(join(this.dir, 'layers'), { recursive: true });
    await atomicWrite(statePath, JSON.stringify({ fingerprint }, null, 2));
    return { resumed: false };
  }

  /**
   * Whether complete sensitivities for this calibration are on disk. A cache directory
   * records the calibration it was computed with and refuses to serve another one.
   */
  async hasSensitivities(calibration: Record<string, unknown>): Promise<boolean> {
    await mkdir(this.sensitivityDir, { recursive: true });
    const path = join(this.sensitivityDir, 'calibration.json');
    const wanted = JSON.stringify(calibration);
    if (existsSync(path)) {
      const have = JSON.stringify(JSON.parse(await readFile(path, 'utf8')));
      if (have !== wanted) {
        throw new ResumeMismatchError(
          `${this.sensitivityDir} holds sensitivities of another calibration (${have}); use another directory`,
        );
      }
    } else {
      await atomicWrite(path, wanted);
    }
    return existsSync(join(this.sensitivityDir, 'complete'));
  }

  async writeSensitivity(base: string, values: Float32Array): Promise<void> {
    await atomicWrite(join(this.sensitivityDir, `${base}.f32`), bytesOf(values));
  }

  async markSensitivitiesComplete(): Promise<void> {
    await atomicWrite(join(this.sensitivityDir, 'complete'), '');
  }

  async readSensitivity(linear: LinearLayer): Promise<Float32Array> {
    const path = join(this.sensitivityDir, `${linear.base}.f32`);
    if (!existsSync(path)) {
      throw new ResumeMismatchError(
        `${path} is missing: the runtime gives sensitivities for decoder linears only (drop --lm-head)`,
      );
    }
    const bytes = await readFile(path);
    if (bytes.byteLength !== linear.rows * linear.cols * 4) {
      throw new ResumeMismatchError(
        `${this.sensitivityDir}/${linear.base}.f32 has ${bytes.byteLength} bytes, expected ${linear.rows * linear.cols * 4}`,
      );
    }
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  }

  hasLayer(base: string): boolean {
    return existsSync(this.layerPath(base));
  }

  async writeLayer(base: string, result: LayerResult): Promise<void> {
    await atomicWrite(
      this.layerPath(base),
      Buffer.concat([bytesOf(result.indices), ...result.luts.map(bytesOf)]),
    );
  }

  async readLayer(linear: LinearLayer): Promise<LayerResult> {
    const bytes = await readFile(this.layerPath(linear.base));
    const n = linear.rows * linear.cols;
    let expected = n;
    for (let b = this.seedBits; b <= this.parentBits; b++) expected += (linear.rows << b) * 2;
    if (bytes.byteLength !== expected) {
      throw new ResumeMismatchError(
        `${this.layerPath(linear.base)} has ${bytes.byteLength} bytes, expected ${expected}: delete it to redo that layer`,
      );
    }
    const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    const indices = new Uint8Array(buf, 0, n);
    const luts: Uint16Array[] = [];
    let offset = n;
    for (let b = this.seedBits; b <= this.parentBits; b++) {
      // tables start at an odd offset when rows*cols is odd; copy to align
      luts.push(new Uint16Array(buf.slice(offset, offset + (linear.rows << b) * 2)));
      offset += (linear.rows << b) * 2;
    }
    return { indices, luts };
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }

  private layerPath(base: string): string {
    return join(this.dir, 'layers', `${base}.bin`);
  }
}

function bytesOf(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

async function atomicWrite(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}
