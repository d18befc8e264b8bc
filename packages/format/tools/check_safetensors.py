#!/usr/bin/env python3
"""Checks that safetensors files written by @anyprec/format open with Hugging Face's
`safetensors` and round-trip bit-exactly.

For every file (directories are searched for *.safetensors recursively):
  1. parse the header independently (struct + json) and slice each tensor's raw bytes;
  2. open with safetensors.safe_open(framework="pt") and compare names, metadata, dtypes,
     shapes and every tensor's bytes with the raw bytes;
  3. load the whole file with safetensors.torch.load (the strict in-memory deserializer);
  4. with framework="np" too, for the dtypes numpy has (all but BF16);
  5. re-save the tensors and metadata with safetensors.torch.save_file, parse that file
     independently again and require the same names, dtypes, shapes, metadata and bytes.
Prints one JSON line: {"ok": bool, "files": [...], "versions": {...}}. Exit status 1 when
any check fails.

Usage: python3 tools/check_safetensors.py fixtures/pycheck [more paths ...]
"""

import json
import os
import struct
import sys
import tempfile
import traceback

import numpy as np
import safetensors
import torch
from safetensors import safe_open
from safetensors.torch import load as st_load
from safetensors.torch import save_file

DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "U64": 8, "I32": 4, "U32": 4,
               "I16": 2, "U16": 2, "I8": 1, "U8": 1, "BOOL": 1}
TORCH_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64",
                "U64": "uint64", "I32": "int32", "U32": "uint32", "I16": "int16", "U16": "uint16",
                "I8": "int8", "U8": "uint8", "BOOL": "bool"}


def raw_tensors(path):
    """Header and tensor bytes, parsed without the safetensors library."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        numel = 1
        for d in info["shape"]:
            numel *= d
        assert end - begin == numel * DTYPE_BYTES[info["dtype"]], f"{name}: byte length"
        tensors[name] = (info["dtype"], list(info["shape"]), data[base + begin:base + end])
    return metadata, tensors


def torch_bytes(t):
    t = t.contiguous().reshape(-1)
    if t.dtype == torch.bool:
        t = t.to(torch.uint8)
    return t.view(torch.uint8).numpy().tobytes() if t.numel() else b""


def check_file(path):
    errors = []
    metadata, raw = raw_tensors(path)

    def expect(cond, msg):
        if not cond:
            errors.append(msg)

    # 2. safe_open (pt)
    loaded = {}
    with safe_open(path, framework="pt") as f:
        expect(sorted(f.keys()) == sorted(raw), "safe_open keys differ")
        expect((f.metadata() or {}) == metadata, "safe_open metadata differs")
        for name in f.keys():
            t = f.get_tensor(name)
            loaded[name] = t
            dtype, shape, b = raw[name]
            expect(str(t.dtype) == f"torch.{TORCH_DTYPES[dtype]}", f"{name}: dtype {t.dtype} vs {dtype}")
            expect(list(t.shape) == shape, f"{name}: shape {list(t.shape)} vs {shape}")
            expect(torch_bytes(t) == b, f"{name}: bytes differ (safe_open pt)")
    # 3. strict in-memory load
    with open(path, "rb") as fh:
        mem = st_load(fh.read())
    for name, t in mem.items():
        expect(torch_bytes(t) == raw[name][2], f"{name}: bytes differ (safetensors.torch.load)")
    # 4. numpy
    with safe_open(path, framework="np") as f:
        for name in f.keys():
            if raw[name][0] == "BF16":
                continue
            a = f.get_tensor(name)
            expect(np.ascontiguousarray(a).tobytes() == raw[name][2], f"{name}: bytes differ (safe_open np)")
    # 5. re-save and compare
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "resaved.safetensors")
        save_file({k: v.contiguous() for k, v in loaded.items()}, out, metadata=metadata or None)
        meta2, raw2 = raw_tensors(out)
        expect(meta2 == metadata, "re-saved metadata differs")
        expect(sorted(raw2) == sorted(raw), "re-saved keys differ")
        for name, (dtype, shape, b) in raw.items():
            d2, s2, b2 = raw2[name]
            expect((d2, s2) == (dtype, shape), f"{name}: re-saved dtype/shape {d2} {s2}")
            expect(b2 == b, f"{name}: re-saved bytes differ")
    return {"path": path, "tensors": len(raw), "bytes": os.path.getsize(path), "ok": not errors, "errors": errors[:20]}


def main(argv):
    paths = []
    for p in argv or ["fixtures/pycheck"]:
        if os.path.isdir(p):
            for root, _, files in os.walk(p):
                paths += [os.path.join(root, f) for f in sorted(files) if f.endswith(".safetensors")]
        else:
            paths.append(p)
    results = []
    for p in sorted(paths):
        try:
            results.append(check_file(p))
        except Exception as e:  # report, don't crash: one JSON line always comes out
            results.append({"path": p, "ok": False, "errors": [f"{type(e).__name__}: {e}", traceback.format_exc(limit=3)]})
    ok = bool(results) and all(r["ok"] for r in results)
    print(json.dumps({"ok": ok, "files": results,
                      "versions": {"safetensors": safetensors.__version__, "torch": torch.__version__, "numpy": np.__version__}}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
