// Tensor names of spec 1.0 (SPEC.md §4).

/** `<base>.planes`: U32 [P, rows, cols/32]. */
export const planesName = (base: string): string => `${base}.planes`;
/** `<base>.lut<b>`: F16 [rows, 2^b] (anyprec). */
export const lutName = (base: string, bits: number): string => `${base}.lut${bits}`;
/** `<base>.scales<b>`: F16 [rows, groups, b] (anybcq). */
export const scalesName = (base: string, bits: number): string => `${base}.scales${bits}`;
/** `<base>.offsets<b>`: F16 [rows, groups] (anybcq with offsets). */
export const offsetsName = (base: string, bits: number): string => `${base}.offsets${bits}`;
/** `<base>.bias`: kept as in the source. */
export const biasName = (base: string): string => `${base}.bias`;

/** Splits a container tensor name into its quantized base and role, or null for other tensors. */
export function parseQuantizedName(
  name: string,
):
  | { base: string; role: 'planes' }
  | { base: string; role: 'lut' | 'scales' | 'offsets'; bits: number }
  | null {
  if (name.endsWith('.planes')) return { base: name.slice(0, -'.planes'.length), role: 'planes' };
  const m = /^(.*)\.(lut|scales|offsets)([1-8])$/.exec(name);
  if (!m) return null;
  return { base: m[1], role: m[2] as 'lut' | 'scales' | 'offsets', bits: Number(m[3]) };
}
