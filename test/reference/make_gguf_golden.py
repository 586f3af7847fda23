"""Writes goldens/gguf/: types.gguf, one tensor of each GGUF type loraplane dequantizes (F32, F16, BF16,
Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K) and metadata of every value type, written by gguf-py's GGUFWriter;
dequant.safetensors, each tensor dequantized to fp32 by gguf-py's gguf.quants (numpy, independent of
the runtime); metadata.json, the metadata values written.

The legacy types are quantized from seeded normal values with gguf.quants.quantize. gguf-py has no
quantizer for the K-quants, so their blocks are seeded random bytes with finite fp16 scales: every bit
pattern of the quants, scales and mins is exercised.

    python test/reference/make_gguf_golden.py [--out test/reference/goldens/gguf]
"""

import argparse
import json
import os

import gguf
import numpy as np
from safetensors.numpy import save_file

ROWS, COLS = 3, 512  # COLS: two 256-value K-quant super-blocks per row


def k_quant_blocks(rng, qtype, n_blocks):
    """Random K-quant blocks whose fp16 super-block scales are finite and of a weight's magnitude."""
    block_bytes = gguf.GGML_QUANT_SIZES[qtype][1]
    blocks = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
    scales = rng.uniform(1e-4, 1e-2, size=(n_blocks, 2)).astype(np.float16).view(np.uint8)
    if qtype == gguf.GGMLQuantizationType.Q6_K:
        blocks[:, -2:] = scales[:, :2]  # d is the block's last field
    else:
        blocks[:, :4] = scales  # d and dmin lead the block
    return blocks


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "goldens", "gguf"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(20261207)
    T = gguf.GGMLQuantizationType

    writer = gguf.GGUFWriter(os.path.join(args.out, "types.gguf"), arch="llama")
    metadata = {"general.architecture": "llama"}

    def kv(key, value, vtype, sub_type=None):
        writer.add_key_value(key, value, vtype, sub_type=sub_type)
        metadata[key] = value

    V = gguf.GGUFValueType
    kv("test.uint8", 200, V.UINT8)
    kv("test.int8", -100, V.INT8)
    kv("test.uint16", 60000, V.UINT16)
    kv("test.int16", -30000, V.INT16)
    kv("test.uint32", 4000000000, V.UINT32)
    kv("test.int32", -2000000000, V.INT32)
    kv("test.uint64", 2**62 + 1, V.UINT64)
    kv("test.int64", -(2**62) - 1, V.INT64)
    kv("test.float32", float(np.float32(0.1)), V.FLOAT32)
    kv("test.float64", 0.1, V.FLOAT64)
    kv("test.bool", True, V.BOOL)
    kv("test.string", "héllo, GGUF", V.STRING)
    kv("test.array_int32", [1, -2, 3], V.ARRAY, V.INT32)
    kv("test.array_string", ["a", "", "Ġthe"], V.ARRAY, V.STRING)
    kv("test.array_nested", [[1, 2], [3]], V.ARRAY, V.ARRAY)

    expected = {}
    for qtype in (T.F32, T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1, T.Q4_K, T.Q5_K, T.Q6_K):
        name = qtype.name.lower()
        values = rng.standard_normal((ROWS, COLS)).astype(np.float32) * 0.05
        if qtype in (T.Q4_K, T.Q5_K, T.Q6_K):
            block_values, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
            data = k_quant_blocks(rng, qtype, ROWS * COLS // block_values).reshape(ROWS, -1)
        elif qtype == T.F32:
            data = values
        else:
            data = gguf.quants.quantize(values, qtype)
        writer.add_tensor(name, data, raw_dtype=qtype)
        expected[name] = np.ascontiguousarray(gguf.quants.dequantize(data, qtype).reshape(ROWS, COLS), np.float32)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    save_file(expected, os.path.join(args.out, "dequant.safetensors"))
    with open(os.path.join(args.out, "metadata.json"), "w") as f:
        json.dump(metadata, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
