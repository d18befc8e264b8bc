#!/usr/bin/env python3
"""Small random Llama-3 / Qwen2 / Mistral checkpoints and their PyTorch logits, for the
model-family tests of @anyprec/runtime (run once on a machine with torch + transformers).

For each family, a randomly initialised model exercising the options the runtime must support
(Llama-3 rope_scaling + untied lm_head in f32; Qwen2 q/k/v biases + tied head in bf16; Mistral
GQA 4/1 with an explicit head_dim != hidden/heads in f16) is saved with save_pretrained, reloaded
from disk, and evaluated in float64; the logits of every position of a fixed token sequence are
written next to the weights as expected.json.

Usage: python3 tools/gpu/family_reference.py --out $OUT/families
"""
import argparse
import json
import os

import torch
from transformers import (LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM,
                          Qwen2Config, Qwen2ForCausalLM)

COMMON = dict(vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
              max_position_embeddings=256, bos_token_id=0, eos_token_id=1, rms_norm_eps=1e-6)

FAMILIES = {
    "llama3": (LlamaForCausalLM, LlamaConfig(
        **COMMON, num_attention_heads=4, num_key_value_heads=2, rope_theta=500000.0,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 32},
        tie_word_embeddings=False, attention_bias=False, mlp_bias=False), torch.float32),
    "qwen2": (Qwen2ForCausalLM, Qwen2Config(
        **COMMON, num_attention_heads=4, num_key_value_heads=2, rope_theta=1000000.0,
        tie_word_embeddings=True, use_sliding_window=False), torch.bfloat16),
    "mistral": (MistralForCausalLM, MistralConfig(
        **COMMON, num_attention_heads=4, num_key_value_heads=1, head_dim=32, rope_theta=10000.0,
        sliding_window=4096, tie_word_embeddings=False), torch.float16),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    ids = [0] + [(i * 37 + 11) % 126 + 2 for i in range(47)]  # 48 tokens, positions beyond 32
    for name, (cls, config, dtype) in FAMILIES.items():
        torch.manual_seed(1234)
        model = cls(config)
        with torch.no_grad():  # larger-than-default weights so that mistakes show in the logits
            for p in model.parameters():
                p.normal_(0, 0.08 if p.dim() > 1 else 0.3)
                if p.dim() == 1 and p.shape[0] == config.hidden_size:
                    p.add_(1.0)  # norm weights around 1
        out = os.path.join(args.out, name)
        model.to(dtype).save_pretrained(out, safe_serialization=True)
        try:
            reloaded = cls.from_pretrained(out, dtype=torch.float64, attn_implementation="eager")
        except TypeError:
            reloaded = cls.from_pretrained(out, torch_dtype=torch.float64, attn_implementation="eager")
        with torch.no_grad():
            logits = reloaded(input_ids=torch.tensor([ids])).logits[0]
        with open(os.path.join(out, "expected.json"), "w") as f:
            json.dump({"generator": "tools/gpu/family_reference.py", "torch": torch.__version__,
                       "dtype": str(dtype), "input_ids": ids,
                       "logits": [[round(float(v), 7) for v in row] for row in logits.tolist()]}, f)
        print(name, sorted(os.listdir(out)), float(logits.abs().max()))


if __name__ == "__main__":
    main()
