// The seven linears of a Llama-3-8B decoder layer, [rows, cols], in the order a decode step runs
// them (q, k, v, o, gate, up, down): the seven-linear sum, shared by the bench scripts.
export const LLAMA3_8B_LAYER = [
  [4096, 4096], // q
  [1024, 4096], // k
  [1024, 4096], // v
  [4096, 4096], // o
  [14336, 4096], // gate
  [14336, 4096], // up
  [4096, 14336], // down
];
