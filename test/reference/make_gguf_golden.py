"""Writes goldens/gguf/: types.gguf, one tensor of each GGUF type loraplane dequantizes (F32, F16, BF16,
Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K) and metadata of every value type, written by gguf-py's GGUFWriter;
dequant.safetensors, each tensor dequantized to fp32 by gguf-py's gguf.quants (numpy, independent of
the runtime); metadata.json, the metadata values written. Then llama.gguf, llama_gqa.gguf, qwen2.gguf and qwen3.gguf:
those golden models (goldens/<case>/model) in F32 as llama.cpp's convert_hf_to_gguf.py writes them (its
tensor names and hyperparameter keys; Llama's q/k rows permuted for llama.cpp's RoPE, Qwen2's and Qwen3's not;
Qwen3's head size as attention.key_length/value_length, without rope.dimension_count), so the
runtime loading either form must compute the same. llama_gqa.gguf (2 KV heads for 4, tied embeddings: no
output.weight) carries the rope base only: llama.cpp keeps Llama 3's rope scaling as a rope_freqs tensor, which
loraplane does not read, so the test compares it with that folder's config without the scaling.
tiny-llama.gguf: the bundled examples/tiny-llama in BF16 (its own dtype, so exact) with its tokenizer (tokens,
types, merges, special token ids) and chat template as metadata, for the trainer's runs on a .gguf base.

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
from safetensors.numpy import load_file, save_file

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


def permute(w, n_head):
    """convert_hf_to_gguf.py's LlamaModel.permute: each head's two RoPE halves interleaved row by row."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


HF_TO_GGUF = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.bias": "attn_v.bias",
    "self_attn.q_norm.weight": "attn_q_norm.weight",
    "self_attn.k_norm.weight": "attn_k_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}


def load_tensors(model_dir):
    """The folder's tensors as numpy fp32 (safetensors.numpy cannot read bf16: widened by bit shifting)."""
    path = os.path.join(model_dir, "model.safetensors")
    with open(path, "rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        raw = data[start:end]
        if info["dtype"] == "BF16":
            t = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
        elif info["dtype"] == "F32":
            t = np.frombuffer(raw, np.float32)
        else:
            raise ValueError(f"{path}: {name} is {info['dtype']}")
        out[name] = t.reshape(info["shape"])
    return out


def add_hf_tokenizer(w, model_dir):
    """The folder's byte-level BPE tokenizer as convert_hf_to_gguf.py writes it: tokens by id, token types
    (added special tokens CONTROL, the rest NORMAL), merges as "a b", special token ids, the chat template."""
    with open(os.path.join(model_dir, "tokenizer.json")) as f:
        tok = json.load(f)
    with open(os.path.join(model_dir, "tokenizer_config.json")) as f:
        tok_cfg = json.load(f)
    vocab = tok["model"]["vocab"]
    tokens = [None] * len(vocab)
    for token, i in vocab.items():
        tokens[i] = token
    special = {t["id"] for t in tok["added_tokens"] if t["special"]}
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt2")
    w.add_token_list(tokens)
    w.add_token_types([gguf.TokenType.CONTROL if i in special else gguf.TokenType.NORMAL for i in range(len(tokens))])
    w.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]])
    for key, add in (("bos_token", w.add_bos_token_id), ("eos_token", w.add_eos_token_id), ("pad_token", w.add_pad_token_id)):
        if tok_cfg.get(key) is not None:
            add(vocab[tok_cfg[key]])
    w.add_add_bos_token(False)
    w.add_chat_template(tok_cfg["chat_template"])


def write_model(case, out, model_dir=None, raw_dtype=None):
    """model_dir with its tokenizer, else goldens/<case>/model with placeholder tokens; raw_dtype: F32 unless BF16."""
    with_tokenizer = model_dir is not None
    model_dir = model_dir or os.path.join(os.path.dirname(__file__), "goldens", case, "model")
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    arch = cfg["model_type"]
    heads, kv_heads = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    w = gguf.GGUFWriter(os.path.join(out, case + ".gguf"), arch=arch)
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_rope_freq_base(cfg["rope_parameters"]["rope_theta"])
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    if arch == "qwen3":
        # Qwen3Model (via TextModel) writes config.json's head_dim as the key/value length and no rope dimension.
        w.add_key_length(cfg["head_dim"])
        w.add_value_length(cfg["head_dim"])
    else:
        w.add_rope_dimension_count(cfg.get("head_dim", cfg["hidden_size"] // heads))
    if with_tokenizer:
        add_hf_tokenizer(w, model_dir)
    else:
        w.add_tokenizer_model("gpt2")
        w.add_token_list([f"<t{i}>" for i in range(cfg["vocab_size"])])
        if cfg.get("bos_token_id") is not None:
            w.add_bos_token_id(cfg["bos_token_id"])
        if cfg.get("eos_token_id") is not None:
            w.add_eos_token_id(cfg["eos_token_id"])
    tensors = load_tensors(model_dir) if with_tokenizer else load_file(os.path.join(model_dir, "model.safetensors"))
    for name, t in tensors.items():
        if name == "model.embed_tokens.weight":
            gname = "token_embd.weight"
        elif name == "model.norm.weight":
            gname = "output_norm.weight"
        elif name == "lm_head.weight":
            gname = "output.weight"
        else:
            _, _, layer, rest = name.split(".", 3)
            gname = f"blk.{layer}.{HF_TO_GGUF[rest]}"
            if arch == "llama" and rest.startswith("self_attn.q_proj."):
                t = permute(t, heads)
            if arch == "llama" and rest.startswith("self_attn.k_proj."):
                t = permute(t, kv_heads)
        t = np.ascontiguousarray(t, np.float32)
        if raw_dtype is None:
            w.add_tensor(gname, t)
        else:
            w.add_tensor(gname, gguf.quants.quantize(t, raw_dtype), raw_dtype=raw_dtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


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
    for case in ("llama", "llama_gqa", "qwen2", "qwen3"):
        write_model(case, args.out)
    # The bundled tiny model (bf16) with its tokenizer and chat template, for `loraplane run` on a .gguf.
    tiny = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "tiny-llama")
    write_model("tiny-llama", args.out, model_dir=tiny, raw_dtype=T.BF16)


if __name__ == "__main__":
    main()
