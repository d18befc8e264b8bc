#!/usr/bin/env python3
"""PyTorch reference numbers for @anyprec/runtime's tests (run once on the GPU machine).

Writes one JSON file (--out) with, for models/tiny of this repository:
  * fisher: the empirical Fisher diagonal F = sum_s (dL_s/dW)^2 of every decoder linear over the
    sequences of packages/runtime/fixtures/grad_sequences.json (L_s = mean token cross-entropy
    with labels = inputs, one sequence at a time, as in SNU-ARC/any-precision-llm
    quantization/gradients.py), computed in float64; stored as the total per linear and the full
    values of a few chosen rows of several layers.
  * ppl32k: the dev perplexity over the first 32,768 tokens of the protocol in
    ../shared/models/README.md (fp32, HF tokenizer + HF model), plus a checksum of the stream;
  * top8: the top-8 logits after the reference prompt (float64 evaluation of the stored weights).
The same is done for `small` when --small points at a copy of it (it is not in the repository).

Usage (repository root; dev.jsonl must travel with the repo, e.g. copied to out/dev.jsonl):
  python3 tools/gpu/grad_reference.py --dev out/dev.jsonl [--small out/small] --out $OUT/grad_reference.json
Needs torch, transformers >= 4.40 and tokenizers; no network.
"""
import argparse
import json
import math
import os
import time

import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LINEARS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]
CHOSEN_ROWS = [0, 17]
PROMPT = "The kernel scheduler decides which task"


def load(path, dtype, device):
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation="eager")
    except TypeError:  # transformers < 4.56 names it torch_dtype
        model = AutoModelForCausalLM.from_pretrained(path, torch_dtype=dtype, attn_implementation="eager")
    return model.to(device).eval()


def fisher(model_dir, sequences, device):
    model = load(model_dir, torch.float64, device)
    layers = model.config.num_hidden_layers
    params = {f"model.layers.{l}.{m}": model.get_submodule(f"model.layers.{l}.{m}").weight
              for l in range(layers) for m in LINEARS}
    sums = {name: torch.zeros_like(p) for name, p in params.items()}
    for seq in sequences:
        model.zero_grad(set_to_none=True)
        ids = torch.tensor([seq], device=device)
        loss = model(input_ids=ids, labels=ids).loss  # mean CE over len-1 predictions
        loss.backward()
        for name, p in params.items():
            sums[name] += p.grad.detach() ** 2
    chosen_layers = sorted({0, layers - 1})
    out = {"layers": chosen_layers, "rows": CHOSEN_ROWS, "total": {}, "row_values": {}}
    for name, f in sums.items():
        out["total"][name] = float(f.sum())
        layer = int(name.split(".")[2])
        if layer in chosen_layers:
            out["row_values"][name] = {str(r): [float(v) for v in f[r].tolist()] for r in CHOSEN_ROWS}
    return out


def eval_stream(tokenizer, dev_path, max_tokens, bos=0, eos=1):
    stream = []
    with open(dev_path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            stream.append(bos)
            stream.extend(tokenizer.encode(json.loads(line)["text"], add_special_tokens=False).ids)
            stream.append(eos)
            if len(stream) >= max_tokens:
                break
    return stream[:max_tokens]


@torch.no_grad()
def ppl(model_dir, dev_path, tokens, device, window=512):
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    stream = eval_stream(tok, dev_path, tokens)
    model = load(model_dir, torch.float32, device)
    windows = (len(stream) - 1) // window
    data = torch.tensor([stream[w * window: w * window + window + 1] for w in range(windows)], device=device)
    total = 0.0
    for start in range(0, windows, 16):
        batch = data[start:start + 16]
        logits = model(input_ids=batch[:, :-1]).logits.double()
        total += float(torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1), reduction="sum"))
    n = windows * window
    return {"tokens": len(stream), "windows": windows, "predictions": n, "ppl": math.exp(total / n),
            "stream_sum": int(sum(stream)), "stream_head": stream[:16], "stream_tail": stream[-16:]}


@torch.no_grad()
def top8(model_dir, device):
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    ids = [0] + tok.encode(PROMPT, add_special_tokens=False).ids
    model = load(model_dir, torch.float64, device)
    logits = model(input_ids=torch.tensor([ids], device=device)).logits[0, -1]
    values, index = torch.topk(logits, 8)
    return {"prompt_ids": ids, "top8": [[int(i), float(v)] for i, v in zip(index.tolist(), values.tolist())]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--dev", help="path of dev.jsonl (for the 32,768-token perplexities)")
    ap.add_argument("--small", help="directory of the `small` model, if it travelled")
    ap.add_argument("--tokens", type=int, default=32768)
    args = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    started = time.time()
    seq_file = os.path.join(ROOT, "packages/runtime/fixtures/grad_sequences.json")
    sequences = json.load(open(seq_file))["sequences"]
    tiny = os.path.join(ROOT, "models/tiny")
    result = {
        "generator": "tools/gpu/grad_reference.py",
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "sequences": "packages/runtime/fixtures/grad_sequences.json",
        "tiny": {"fisher": fisher(tiny, sequences, device), "logits": top8(tiny, device)},
    }
    if args.dev:
        result["tiny"]["ppl32k"] = ppl(tiny, args.dev, args.tokens, device)
    if args.small:
        result["small"] = {"logits": top8(args.small, device)}
        if args.dev:
            result["small"]["ppl32k"] = ppl(args.small, args.dev, args.tokens, device)
    result["seconds"] = round(time.time() - started, 1)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f)
    print(json.dumps({k: v for k, v in result.items() if k not in ("tiny", "small")}))
    for name in ("tiny", "small"):
        if name in result:
            print(name, json.dumps({k: v for k, v in result[name].items() if k != "fisher"}))


if __name__ == "__main__":
    main()
