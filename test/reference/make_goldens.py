#!/usr/bin/env python3
"""Reference goldens for the native QLoRA runtime (issue "Native QLoRA runtime, CPU backend").

Runs the real reference stack (PyTorch + Transformers + PEFT + bitsandbytes, versions pinned in
requirements.txt next to this file) on CPU in fp32 and writes test/reference/goldens/<case>/.
See README.md next to this file for what every file holds and the numerics the native runtime
must match.

    python -m venv .venv-reference
    .venv-reference/bin/pip install -r test/reference/requirements.txt
    .venv-reference/bin/python test/reference/make_goldens.py [--out DIR] [--cases llama,qwen2]

Determinism: everything is seeded, runs on one CPU thread with torch deterministic algorithms and
TorchDynamo disabled, and no model or data is downloaded (models are built from configs with
random weights; HF_HUB_OFFLINE is forced). Two runs on the same machine give byte-identical files.

Quantization path: the 4-bit model is loaded exactly as a QLoRA user does, with
`from_pretrained(model_dir, quantization_config=BitsAndBytesConfig(load_in_4bit=True,
bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.float32),
device_map="cpu")`. bitsandbytes >= 0.49 supports this on CPU, so no manual Linear4bit swap is
needed. The script asserts that the stored bytes equal `bitsandbytes.functional.quantize_4bit` of
the fp32 weights, and that a plain-Python re-implementation of the algorithm documented in
README.md reproduces those bytes (and the dequantized values) bit for bit.

Two bitsandbytes 0.50.2 CPU C++ kernels are replaced (for the CPU dispatch key only) by
bitsandbytes' own pure-PyTorch "default" implementations, because they deviate from the semantics
of checkpoints/CUDA: dequantize_4bit (wrong absmax index when in_features % 64 != 0 on AVX512
CPUs) and the 8-bit quantize_blockwise used by double quantization (approximate nearest-code
search). See the comment block below and README.md; meta.json records what the stock kernels do.
"""

from __future__ import annotations

import os
import sys

# PEFT keeps target_modules as a Python set, so the order written to adapter_config.json depends on
# string hashing: pin it (re-exec once) so that repeated runs write identical bytes.
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

# Must be set before torch/transformers are imported.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ["TORCHDYNAMO_DISABLE"] = "1"  # bnb wraps a few helpers in torch.compile; keep eager
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TQDM_DISABLE", "1")

import argparse
import copy
import json
import logging
import math
import platform
import shutil
import time
import warnings
from pathlib import Path

logging.getLogger("bitsandbytes").setLevel(logging.ERROR)  # "kernels" package warning on AVX512-BF16 CPUs
warnings.filterwarnings("ignore")

import numpy as np
import safetensors
import torch
import transformers
import peft
import bitsandbytes as bnb
import bitsandbytes.functional as BF
from safetensors.torch import save_file
from transformers import (
    BitsAndBytesConfig,
    LlamaConfig,
    LlamaForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
    get_linear_schedule_with_warmup,
)
from transformers.utils import logging as hf_logging
from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict

hf_logging.set_verbosity_error()
hf_logging.disable_progress_bar()
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


# --------------------------------------------------------------------------------------------
# Two bitsandbytes 0.50.2 CPU C++ kernels deviate from bnb's own reference semantics (its pure-
# PyTorch "default" backend, which is also what the CUDA kernels compute). They are re-registered
# below with bnb's default implementations so that the goldens follow the one documented rule,
# independent of the CPU's instruction set. Both deviations are probed and recorded in meta.json.
#
# 1. dequantize_4bit (AVX512 build; seen on an AMD EPYC with AVX512): the absmax of element
#    (row, col) is taken as absmax[row * (K // blocksize) + col // blocksize], which is wrong
#    whenever in_features K is not a multiple of the blocksize (down_proj with intermediate 80, 96,
#    160...). Correct (checkpoints, CUDA, bnb default): absmax[(row * K + col) // blocksize].
# 2. quantize_blockwise (the 8-bit step of double quantization): the C++ kernel computes x / absmax
#    and looks the code up with an approximate table search (BinSearch "Direct2"); it does not
#    always return the nearest code, above all for small |x| where the dynamic map is dense.
#    bnb default: scaled = clamp(x * (1 / absmax), -1, 1), index = number of fp32 midpoints
#    (code[i] + code[i+1]) / 2 strictly below scaled (the nearest code, ties to the lower one).
# --------------------------------------------------------------------------------------------

def _stock_cpu_dequant_is_flat():
    """Probe CPU dequantize_4bit on a weight whose rows straddle 64-blocks."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(8, 96, generator=g)
    q, st = BF.quantize_4bit(w, blocksize=64, compress_statistics=False, quant_type="nf4")
    code = BF.get_4bit_type("nf4", device="cpu")
    p = q.reshape(-1)
    nib = torch.stack([p >> 4, p & 0xF], dim=1).reshape(-1).long()
    flat = (code[nib].view(-1, 64) * st.absmax.view(-1, 1)).reshape(8, 96)
    return torch.equal(BF.dequantize_4bit(q, st), flat)


def stock_cpu_quantize_blockwise(A, code, blocksize):
    """bnb 0.50.2's stock CPU 8-bit blockwise quantizer (the C++ kernel), called as bnb calls it."""
    import ctypes as ct
    from bitsandbytes.cextension import lib

    A = A.contiguous().float()
    code = code.clone().contiguous()
    n = A.numel()
    absmax = torch.empty((-(n // -blocksize),), dtype=torch.float32)
    out = torch.empty(A.shape, dtype=torch.uint8)
    lib.cquantize_blockwise_cpu_fp32(BF.get_ptr(code), BF.get_ptr(A), BF.get_ptr(absmax), BF.get_ptr(out),
                                     ct.c_longlong(blocksize), ct.c_longlong(n))
    return out, absmax


def _default_quantize_blockwise(A, code, blocksize):
    # Same computation as bitsandbytes/backends/default/ops.py quantize_blockwise (bnb 0.50.2).
    A_flat = A.reshape(-1).float()
    n = A_flat.numel()
    rem = n % blocksize
    full = n - rem
    blocks = full // blocksize
    A_com = A_flat[:full].reshape(blocks, blocksize)
    absmax = A_com.abs().max(dim=-1)[0]
    scaled = torch.clamp(A_com * (1.0 / absmax.clamp(min=1e-38).view(-1, 1)), -1, 1).reshape(-1)
    if rem:
        am = A_flat[full:].abs().max().clamp(min=1e-38)
        absmax = torch.cat([absmax, am.unsqueeze(0)])
        scaled = torch.cat([scaled, torch.clamp(A_flat[full:] / am, -1, 1)])
    bounds = (code[:-1] + code[1:]) / 2
    q = torch.bucketize(scaled, bounds, out_int32=True).to(torch.uint8)
    return q.reshape(A.shape), absmax


def _default_dequantize_4bit(A, absmax, blocksize, quant_type, shape, dtype):
    # bitsandbytes/backends/default/ops.py dequantize_4bit (also the CPU kernel's own odd-K fallback).
    from bitsandbytes.backends.default.ops import _dequantize_4bit_compute
    from bitsandbytes.backends.utils import _get_4bit_code

    if A.dtype != torch.uint8:
        A = A.view(torch.uint8)
    code = _get_4bit_code(quant_type, A.device)
    return _dequantize_4bit_compute(A.reshape(-1), absmax.float(), code, blocksize, shape, dtype)


STOCK_CPU_DEQUANT_FLAT = _stock_cpu_dequant_is_flat()
torch.library.register_kernel("bitsandbytes::dequantize_4bit", "cpu")(_default_dequantize_4bit)
torch.library.register_kernel("bitsandbytes::quantize_blockwise", "cpu")(_default_quantize_blockwise)
assert _stock_cpu_dequant_is_flat(), "CPU dequantize_4bit override did not take effect"
_probe = torch.linspace(-1, 1, 1001)
assert torch.equal(BF.quantize_blockwise(_probe, blocksize=256)[0], _default_quantize_blockwise(_probe, BF.create_dynamic_map(), 256)[0])

HERE = Path(__file__).resolve().parent

# --------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------

ALL7 = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
QUANT_MODULES = ALL7  # every one of these Linear layers is 4-bit; lm_head/embeddings/norms stay fp32

# Sizes chosen so that every golden folder stays under 1 MB (vocab 128 / intermediate 80 instead of
# 256 / 160: the fp32 base weights, lora_init, grads and final adapter all scale with them).
# intermediate 80 is deliberately NOT a multiple of the 64-blocksize: down_proj rows straddle
# quantization blocks, which is where a per-row block index would go wrong.
BASE_DIMS = dict(
    vocab_size=128,
    hidden_size=64,
    intermediate_size=80,
    num_hidden_layers=2,
    num_attention_heads=4,
    max_position_embeddings=128,
    initializer_range=0.1,  # larger than HF's 0.02 so attention/logits are far from uniform
)

CASES = {
    "llama": dict(
        arch="llama",
        seed=1001,
        config=dict(BASE_DIMS, num_key_value_heads=4, rope_theta=10000.0, rms_norm_eps=1e-5,
                    tie_word_embeddings=False),
        lora=dict(r=16, lora_alpha=32, use_rslora=False, target_modules=ALL7),
        fp4=True,
    ),
    "llama_gqa": dict(
        arch="llama",
        seed=1002,
        config=dict(BASE_DIMS, num_key_value_heads=2, rope_theta=10000.0, rms_norm_eps=1e-5,
                    tie_word_embeddings=True,
                    rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                  "high_freq_factor": 4.0, "original_max_position_embeddings": 64}),
        lora=dict(r=16, lora_alpha=32, use_rslora=False, target_modules=ALL7),
        fp4=False,
    ),
    "qwen2": dict(
        arch="qwen2",
        seed=1003,
        config=dict(BASE_DIMS, num_key_value_heads=2, rope_theta=1000000.0, rms_norm_eps=1e-6,
                    tie_word_embeddings=False, use_sliding_window=False),
        lora=dict(r=16, lora_alpha=32, use_rslora=False, target_modules=ALL7),
        fp4=False,
    ),
    # Qwen3: per-head q/k RMSNorm, no q/k/v bias, and a head_dim (32) that is not hidden / heads (16).
    "qwen3": dict(
        arch="qwen3",
        seed=1005,
        config=dict(BASE_DIMS, num_key_value_heads=2, head_dim=32, rope_theta=1000000.0, rms_norm_eps=1e-6,
                    tie_word_embeddings=True, use_sliding_window=False),
        lora=dict(r=16, lora_alpha=32, use_rslora=False, target_modules=ALL7),
        fp4=False,
    ),
    "llama_rslora": dict(
        arch="llama",
        seed=1004,
        config=dict(BASE_DIMS, num_key_value_heads=4, rope_theta=10000.0, rms_norm_eps=1e-5,
                    tie_word_embeddings=False),
        lora=dict(r=8, lora_alpha=16, use_rslora=True, target_modules=["q_proj", "v_proj", "down_proj"]),
        fp4=False,
    ),
}

QUANT = dict(blocksize=64, double_quant=True, nested_blocksize=256, compute_dtype="float32")
SEQ_LEN = 16
BATCH = 2
LORA_B_INIT_STD = 0.02
NORM_WEIGHT_NOISE = 0.1  # RMSNorm weights = 1 + 0.1*N(0,1) so a runtime that ignores them fails
QKV_BIAS_STD = 0.1  # qwen2 q/k/v biases ~ N(0, 0.1^2) (HF inits them to zero)
TRAIN = dict(
    optimizer="torch.optim.AdamW",
    lr=1e-3,
    betas=[0.9, 0.999],
    eps=1e-8,
    weight_decay=0.01,
    foreach=False,
    schedule="transformers.get_linear_schedule_with_warmup",
    warmup_steps=2,
    total_steps=20,
    max_grad_norm=1.0,
    grad_accum=2,
    micro_batch_rows=[[0], [1]],
)
ATTN_IMPL = "eager"


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

def model_cls(arch):
    return {
        "llama": (LlamaConfig, LlamaForCausalLM),
        "qwen2": (Qwen2Config, Qwen2ForCausalLM),
        "qwen3": (Qwen3Config, Qwen3ForCausalLM),
    }[arch]


def arch_of(architecture):
    """model_cls's key for a config.json "architectures" entry (Mistral runs as Llama)."""
    return {"Qwen2ForCausalLM": "qwen2", "Qwen3ForCausalLM": "qwen3"}.get(architecture, "llama")


def quantized_linear_names(model):
    names = []
    for name, mod in model.named_modules():
        if name.split(".")[-1] in QUANT_MODULES and isinstance(mod, torch.nn.Linear):
            names.append(name)
    return names


def bnb_config(quant_type):
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=quant_type,
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.float32,
    )


def load_4bit(arch, model_dir, quant_type):
    _, cls = model_cls(arch)
    m = cls.from_pretrained(
        model_dir,
        quantization_config=bnb_config(quant_type),
        device_map="cpu",
        dtype=torch.float32,
        attn_implementation=ATTN_IMPL,
    )
    # IMPORTANT: from_pretrained returns eval mode. On CPUs with AVX512-BF16, bnb's Linear4bit in
    # eval mode without grad repacks the weight in place and runs a bf16 gemv kernel. Training
    # (and these goldens) always run in train mode, which uses the fp32 dequantize + matmul path.
    m.train()
    return m


def tensors_4bit(model, names):
    """The state-dict entries that bnb/transformers serialize for each 4-bit Linear."""
    sd = model.state_dict()
    out = {}
    for n in names:
        mod = model.get_submodule(n)
        assert isinstance(mod, bnb.nn.Linear4bit), (n, type(mod))
        for k, v in sd.items():
            if k.startswith(n + "."):
                out[k] = v.detach().clone().contiguous()
    return out


def maxdiff(a, b):
    return float((a.double() - b.double()).abs().max())


# ---- plain re-implementation of bnb's 4-bit + double quantization (the algorithm in README) ----

def ref_quantize_4bit(w, code4, blocksize=64):
    """NF4/FP4 blockwise quantization as done by bitsandbytes' CPU ("default") backend."""
    x = w.reshape(-1).float()
    assert x.numel() % blocksize == 0
    x = x.view(-1, blocksize)
    absmax = x.abs().amax(dim=1)
    scaled = (x * (1.0 / absmax.clamp(min=1e-38)).view(-1, 1)).clamp(-1, 1).reshape(-1)
    order = torch.argsort(code4)  # identity for NF4; for FP4 it is fixed (printed in meta.json)
    sorted_code = code4[order]
    mids = (sorted_code[:-1] + sorted_code[1:]) / 2  # fp32
    # index = number of midpoints strictly below the value (a value equal to a midpoint -> lower code)
    idx = (scaled.view(-1, 1) > mids.view(1, -1)).sum(dim=1)
    q = order[idx].to(torch.uint8)
    packed = (q[0::2] << 4) | q[1::2]  # first element of each pair in the HIGH nibble
    return packed.view(-1, 1), absmax


def ref_quantize_blockwise8(a, code8, blocksize=256):
    """8-bit blockwise (nested absmax) quantization: x * (1/absmax), nearest code, ties -> lower."""
    n = a.numel()
    nb = -(n // -blocksize)
    out = torch.empty(n, dtype=torch.uint8)
    absmax = torch.empty(nb, dtype=torch.float32)
    mids = (code8[:-1] + code8[1:]) / 2
    for b in range(nb):
        blk = a[b * blocksize:(b + 1) * blocksize].float()
        am = blk.abs().max()
        absmax[b] = am
        scaled = (blk * (1.0 / am)).clamp(-1, 1)
        out[b * blocksize:(b + 1) * blocksize] = (scaled.view(-1, 1) > mids.view(1, -1)).sum(dim=1).to(torch.uint8)
    return out, absmax


def ref_dequant(packed, absmax_u8, nested_absmax, nested_code, offset, code4, shape, blocksize=64):
    nb = absmax_u8.numel()
    blk_idx = torch.arange(nb) // 256
    absmax = nested_code[absmax_u8.long()] * nested_absmax[blk_idx]  # fp32 multiply
    absmax = absmax + offset  # then fp32 add of the offset
    p = packed.reshape(-1)
    nib = torch.stack([p >> 4, p & 0xF], dim=1).reshape(-1).long()
    vals = code4[nib].view(-1, blocksize) * absmax.view(-1, 1)
    return vals.reshape(shape)


def check_quantization(base_sd, q_tensors, names, quant_type):
    """Assert loaded 4-bit bytes == quantize_4bit(fp32 W) == plain re-implementation."""
    code4 = BF.get_4bit_type(quant_type, device="cpu")
    dyn = BF.create_dynamic_map(signed=True)
    suffix = f"quant_state.bitsandbytes__{quant_type}"
    stats = {"modules": len(names), "bytes_equal_quantize_4bit": True, "bytes_equal_reimpl": True,
             "dequant_equal_reimpl": True, "nested_codes_total": 0,
             "offset_equals_f64_mean_rounded_to_f32": 0, "offset_differs_from_f64_mean_rounded_to_f32": 0,
             "nested_codes_differing_with_stock_cpu_kernel": 0}
    for n in names:
        w = base_sd[n + ".weight"]
        q, st = BF.quantize_4bit(w, blocksize=QUANT["blocksize"], compress_statistics=True, quant_type=quant_type)
        direct = {n + ".weight": q}
        for k, v in st.as_dict(packed=True).items():
            direct[n + ".weight." + k] = v
        for k, v in direct.items():
            if not torch.equal(v, q_tensors[k]):
                raise AssertionError(f"BitsAndBytesConfig load != quantize_4bit for {k}")
        # plain re-implementation
        rq, ram = ref_quantize_4bit(w, code4, QUANT["blocksize"])
        offset = ram.mean()
        rq8, rnab = ref_quantize_blockwise8(ram - offset, dyn, 256)
        ok = (torch.equal(rq, q_tensors[n + ".weight"])
              and torch.equal(rq8, q_tensors[n + ".weight.absmax"])
              and torch.equal(rnab, q_tensors[n + ".weight.nested_absmax"])
              and torch.equal(dyn, q_tensors[n + ".weight.nested_quant_map"])
              and torch.equal(code4, q_tensors[n + ".weight.quant_map"]))
        meta = json.loads(bytes(q_tensors[n + ".weight." + suffix].tolist()).decode("utf-8"))
        ok = ok and np.float32(meta["nested_offset"]) == offset.numpy()
        if not ok:
            raise AssertionError(f"re-implementation of bnb quantization differs for {n}")
        if np.float32(ram.double().mean().item()) == offset.numpy():
            stats["offset_equals_f64_mean_rounded_to_f32"] += 1
        else:
            stats["offset_differs_from_f64_mean_rounded_to_f32"] += 1
        stock8, _ = stock_cpu_quantize_blockwise(ram - offset, dyn, 256)
        stats["nested_codes_total"] += stock8.numel()
        stats["nested_codes_differing_with_stock_cpu_kernel"] += int((stock8 != rq8).sum())
        # dequantization: bnb vs re-implementation, bit-exact
        dq = BF.dequantize_4bit(q, st)
        rdq = ref_dequant(q_tensors[n + ".weight"], q_tensors[n + ".weight.absmax"],
                          q_tensors[n + ".weight.nested_absmax"], dyn,
                          torch.tensor(meta["nested_offset"], dtype=torch.float32), code4, tuple(w.shape))
        if not torch.equal(dq, rdq):
            raise AssertionError(f"dequantize re-implementation differs for {n}: {maxdiff(dq, rdq)}")
    return stats


def dequantized_weights(q_tensors, names, quant_type):
    """fp32 dequantized weight of each 4-bit Linear, via bitsandbytes itself."""
    out = {}
    for n in names:
        qs = {k[len(n) + len(".weight."):]: v for k, v in q_tensors.items() if k.startswith(n + ".weight.")}
        st = BF.QuantState.from_dict(qs, device=torch.device("cpu"))
        out[n] = BF.dequantize_4bit(q_tensors[n + ".weight"], st)
    return out


def peft_key(param_name):
    # named_parameters: ...q_proj.lora_A.default.weight -> saved key: ...q_proj.lora_A.weight
    return param_name.replace(".lora_A.default.", ".lora_A.").replace(".lora_B.default.", ".lora_B.")


def make_inputs(seed, vocab):
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(0, vocab, (BATCH, SEQ_LEN), generator=g)
    labels = input_ids.clone()
    labels[0, :5] = -100  # prompt masking: first 5 positions of row 0
    labels[1, -3:] = -100  # padding-like: last 3 positions of row 1
    attention_mask = torch.ones_like(input_ids)
    return input_ids, attention_mask, labels


def lora_config(case):
    lc = case["lora"]
    return LoraConfig(
        r=lc["r"],
        lora_alpha=lc["lora_alpha"],
        lora_dropout=0.0,
        target_modules=list(lc["target_modules"]),
        bias="none",
        task_type="CAUSAL_LM",
        init_lora_weights=True,
        use_rslora=lc["use_rslora"],
    )


def manual_causal_lm_loss(logits, labels):
    """HF ForCausalLMLoss written out: shift by one, CE summed over valid tokens / count."""
    lg = logits[:, :-1, :].double()
    tg = labels[:, 1:]
    valid = tg != -100
    lse = torch.logsumexp(lg, dim=-1)
    picked = lg.gather(-1, tg.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    tok = (lse - picked)[valid]
    return tok.sum() / valid.sum()


# --------------------------------------------------------------------------------------------
# One case
# --------------------------------------------------------------------------------------------

def run_case(name, case, out_root):
    t0 = time.time()
    cdir = out_root / name
    if cdir.exists():
        shutil.rmtree(cdir)
    cdir.mkdir(parents=True)
    seed = case["seed"]
    cfg_cls, cls = model_cls(case["arch"])

    # ---- 1. base model: fp32, seeded random init, saved as a real HF model dir ----
    torch.manual_seed(seed)
    cfg = cfg_cls(**copy.deepcopy(case["config"]))
    base = cls(cfg).float()
    g = torch.Generator().manual_seed(seed + 7)
    with torch.no_grad():
        for pname, p in base.named_parameters():
            if pname.endswith("norm.weight"):
                p.copy_(1.0 + NORM_WEIGHT_NOISE * torch.randn(p.shape, generator=g))
            elif pname.endswith("_proj.bias"):
                p.copy_(QKV_BIAS_STD * torch.randn(p.shape, generator=g))
    model_dir = cdir / "model"
    base.save_pretrained(model_dir)
    base_sd = {k: v.detach().clone() for k, v in base.state_dict().items()}
    names = quantized_linear_names(base)
    assert len(names) == 7 * cfg.num_hidden_layers
    del base

    # ---- 2. 4-bit weights exactly as BitsAndBytesConfig stores them (+ checks) ----
    checks = {}
    m4 = load_4bit(case["arch"], model_dir, "nf4")
    assert not isinstance(m4.lm_head, bnb.nn.Linear4bit)
    q_nf4 = tensors_4bit(m4, names)
    checks["nf4"] = check_quantization(base_sd, q_nf4, names, "nf4")
    save_file(q_nf4, str(cdir / "nf4.safetensors"), metadata={"format": "pt"})
    deq_nf4 = dequantized_weights(q_nf4, names, "nf4")
    extra_dequant = {}
    if case["fp4"]:
        mf = load_4bit(case["arch"], model_dir, "fp4")
        q_fp4 = tensors_4bit(mf, names)
        checks["fp4"] = check_quantization(base_sd, q_fp4, names, "fp4")
        save_file(q_fp4, str(cdir / "fp4.safetensors"), metadata={"format": "pt"})
        deq_fp4 = dequantized_weights(q_fp4, names, "fp4")
        for n in ("model.layers.0.mlp.down_proj",):  # [64, 80]: rows straddle 64-blocks
            extra_dequant["nf4." + n + ".weight"] = deq_nf4[n].contiguous()
            extra_dequant["fp4." + n + ".weight"] = deq_fp4[n].contiguous()
        save_file(extra_dequant, str(cdir / "dequant.safetensors"), metadata={"format": "pt"})
        del mf

    # ---- 3. inputs ----
    input_ids, attention_mask, labels = make_inputs(seed + 11, cfg.vocab_size)
    n_valid = int((labels[:, 1:] != -100).sum())
    (cdir / "inputs.json").write_text(json.dumps({
        "input_ids": input_ids.tolist(),
        "attention_mask": attention_mask.tolist(),
        "labels": labels.tolist(),
        "num_valid_tokens_after_shift": n_valid,
        "num_valid_tokens_after_shift_per_row": (labels[:, 1:] != -100).sum(dim=1).tolist(),
    }, indent=1) + "\n")

    # ---- 4. QLoRA model: prepare_model_for_kbit_training + PEFT LoRA, seeded ----
    m4 = prepare_model_for_kbit_training(m4, use_gradient_checkpointing=True)
    torch.manual_seed(seed + 1)  # PEFT's kaiming_uniform init of lora_A uses the global RNG
    pm = get_peft_model(m4, lora_config(case))
    pm.peft_config["default"].base_model_name_or_path = "model"  # stable, relative to the case dir
    gb = torch.Generator().manual_seed(seed + 2)
    with torch.no_grad():
        for pname, p in pm.named_parameters():
            if ".lora_B." in pname:
                p.copy_(LORA_B_INIT_STD * torch.randn(p.shape, generator=gb))
    assert pm.base_model.model.is_gradient_checkpointing
    trainable = [(pname, p) for pname, p in pm.named_parameters() if p.requires_grad]
    assert all((".lora_A." in n_ or ".lora_B." in n_) for n_, _ in trainable)
    lora_init = {k: v.detach().clone().contiguous() for k, v in get_peft_model_state_dict(pm).items()}
    assert set(lora_init) == {peft_key(n_) for n_, _ in trainable}
    save_file(lora_init, str(cdir / "lora_init.safetensors"), metadata={"format": "pt"})
    pm.train()

    # ---- 5. golden forward + backward (batch of 2 rows, labels with -100) ----
    out = pm(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
    logits = out.logits.detach().clone()
    loss = out.loss
    loss.backward()
    outputs = {"logits": logits.contiguous(), "loss": loss.detach().clone().reshape(())}
    grads = {}
    for pname, p in trainable:
        assert p.grad is not None and float(p.grad.abs().max()) > 0, pname
        grads[peft_key(pname)] = p.grad.detach().clone()
        outputs["grad." + peft_key(pname)] = p.grad.detach().clone().contiguous()
    checks["loss_vs_manual_formula_absdiff"] = maxdiff(loss.detach(), manual_causal_lm_loss(logits, labels))
    pm.zero_grad(set_to_none=True)
    with torch.no_grad(), pm.disable_adapter():
        outputs["logits_base"] = pm(input_ids=input_ids, attention_mask=attention_mask).logits.detach().clone().contiguous()
    outputs["rope_inv_freq"] = pm.base_model.model.model.rotary_emb.inv_freq.detach().clone().float().contiguous()
    save_file(outputs, str(cdir / "outputs.safetensors"), metadata={"format": "pt"})

    # ---- 6. cross-checks against a dense model holding the dequantized weights ----
    def dense_run(dtype, attn):
        d = cls.from_pretrained(model_dir, dtype=dtype, attn_implementation=attn)
        with torch.no_grad():
            for n in names:
                d.get_submodule(n).weight.copy_(deq_nf4[n].to(dtype))
        torch.manual_seed(0)
        dp = get_peft_model(d, lora_config(case))
        set_peft_model_state_dict(dp, {k: v.to(dtype) for k, v in lora_init.items()})
        dp.train()
        o = dp(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
        o.loss.backward()
        gr = {peft_key(n_): p.grad for n_, p in dp.named_parameters() if p.requires_grad}
        return o.logits.detach(), o.loss.detach(), gr

    def cmp(tag, res):
        lg, ls, gr = res
        checks[tag] = {
            "logits_max_abs_diff": maxdiff(lg, logits),
            "loss_abs_diff": maxdiff(ls, loss.detach()),
            "grad_max_abs_diff": max(maxdiff(gr[k], grads[k]) for k in grads),
            "grad_max_rel_diff": max(maxdiff(gr[k], grads[k]) / float(grads[k].abs().max()) for k in grads),
        }

    cmp("dense_fp32_eager_no_grad_ckpt", dense_run(torch.float32, "eager"))
    cmp("dense_fp32_sdpa", dense_run(torch.float32, "sdpa"))
    cmp("dense_fp64_eager", dense_run(torch.float64, "eager"))

    # ---- 7. 20-step training curve with grad accumulation 2 ----
    set_peft_model_state_dict(pm, lora_init)
    params = [p for _, p in trainable]
    opt = torch.optim.AdamW(params, lr=TRAIN["lr"], betas=tuple(TRAIN["betas"]), eps=TRAIN["eps"],
                            weight_decay=TRAIN["weight_decay"], foreach=TRAIN["foreach"])
    sched = get_linear_schedule_with_warmup(opt, TRAIN["warmup_steps"], TRAIN["total_steps"])
    micro = [(input_ids[r], attention_mask[r], labels[r]) for r in TRAIN["micro_batch_rows"]]
    # transformers Trainer: num_items_in_batch = valid (shifted) label tokens over all micro-batches
    num_items = sum(int((lab[:, 1:] != -100).sum()) for _, _, lab in micro)
    steps = []
    for step in range(1, TRAIN["total_steps"] + 1):
        lr = sched.get_last_lr()[0]
        micro_losses = []
        for ids, am, lab in micro:
            o = pm(input_ids=ids, attention_mask=am, labels=lab,
                   num_items_in_batch=torch.tensor(num_items))
            o.loss.backward()
            micro_losses.append(float(o.loss.detach()))
        gnorm = torch.nn.utils.clip_grad_norm_(params, TRAIN["max_grad_norm"])
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        steps.append({
            "step": step,
            "lr": lr,
            "loss": float(np.float32(micro_losses[0]) + np.float32(micro_losses[1])),
            "micro_losses": micro_losses,
            "grad_norm": float(gnorm),
        })
    (cdir / "curve.json").write_text(json.dumps({
        "num_items_in_batch": num_items,
        "definition": {
            "loss": "sum over the step's micro-batches of (sum of token CE in the micro-batch / num_items_in_batch), fp32",
            "grad_norm": "global L2 norm of all LoRA grads after accumulation, before clipping (clip_grad_norm_ return value)",
            "lr": "learning rate the optimizer used at this step (scheduler value before sched.step())",
        },
        "steps": steps,
    }, indent=1) + "\n")
    adir = cdir / "final_adapter"
    pm.save_pretrained(adir)
    for extra in adir.iterdir():  # keep only what the runtime must read/write
        if extra.name not in ("adapter_config.json", "adapter_model.safetensors"):
            extra.unlink()

    # ---- 8. meta ----
    lc = case["lora"]
    scaling = lc["lora_alpha"] / (math.sqrt(lc["r"]) if lc["use_rslora"] else lc["r"])
    meta = {
        "case": name,
        "versions": versions(),
        "arch": case["arch"],
        "model_class": cls.__name__,
        "seed": seed,
        "config_kwargs": case["config"],
        "model_init": {
            "linear_and_embedding": f"transformers default init, normal(0, initializer_range={BASE_DIMS['initializer_range']})",
            "rmsnorm_weight": f"1 + {NORM_WEIGHT_NOISE} * N(0,1)",
            "qkv_bias": f"N(0, {QKV_BIAS_STD}^2)" if case["arch"] == "qwen2" else None,
        },
        "attn_implementation": ATTN_IMPL,
        "quantization": dict(QUANT, quant_type="nf4", quantized_modules=names,
                             not_quantized=["embed_tokens", "lm_head", "norms", "biases (stay fp32)"],
                             fp4_file=bool(case["fp4"])),
        "lora": {
            "r": lc["r"], "lora_alpha": lc["lora_alpha"], "use_rslora": lc["use_rslora"], "scaling": scaling,
            "lora_dropout": 0.0, "target_modules": lc["target_modules"], "bias": "none",
            "task_type": "CAUSAL_LM", "init_lora_weights": True,
            "lora_A_init": "PEFT kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)) after torch.manual_seed(seed+1)",
            "lora_B_init": f"overwritten with {LORA_B_INIT_STD} * N(0,1) (torch.Generator seed+2, named_parameters order)",
        },
        "prepare_model_for_kbit_training": {"use_gradient_checkpointing": True,
                                            "note": "gradient checkpointing works on CPU; it recomputes the same fp32 ops, see checks.dense_fp32_eager_no_grad_ckpt"},
        "inputs": {"batch": BATCH, "seq_len": SEQ_LEN, "seed": seed + 11,
                   "labels_masked": "row 0 positions 0..4, row 1 positions 13..15",
                   "num_valid_tokens_after_shift": n_valid},
        "train": TRAIN,
        "bnb_cpu_kernel_overrides": {
            "dequantize_4bit": "bnb default (pure PyTorch) implementation re-registered for the CPU key: flat row-major blocks",
            "dequantize_4bit_stock_cpu_kernel_is_flat_on_this_machine": STOCK_CPU_DEQUANT_FLAT,
            "quantize_blockwise": "bnb default implementation re-registered for the CPU key: x*(1/absmax), nearest code via fp32 midpoints, ties to lower",
            "quantize_blockwise_stock_cpu_kernel_differences": "see checks.nf4.nested_codes_differing_with_stock_cpu_kernel",
        },
        "runtime": {"threads": 1, "deterministic_algorithms": True, "torchdynamo_disabled": True,
                    "mode": "model.train() for every forward"},
        "fp4_sorted_code_order": torch.argsort(BF.get_4bit_type("fp4", device="cpu")).tolist(),
        "checks": checks,
    }
    (cdir / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    return time.time() - t0


def versions():
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "bitsandbytes": bnb.__version__,
        "safetensors": safetensors.__version__,
        "numpy": np.__version__,
    }


def write_quant_maps(out_root):
    """The three code books, bit-exact (float32 hex + decimal)."""
    def dump(t):
        return [{"index": i, "value": float(v), "f32_hex": np.float32(v).view(np.uint32).item().to_bytes(4, "big").hex()}
                for i, v in enumerate(t.tolist())]
    maps = {
        "nf4": dump(BF.get_4bit_type("nf4", device="cpu")),
        "fp4": dump(BF.get_4bit_type("fp4", device="cpu")),
        "dynamic_signed_8bit": dump(BF.create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8)),
        "source": {
            "nf4": "bitsandbytes.functional.get_4bit_type('nf4')",
            "fp4": "bitsandbytes.functional.get_4bit_type('fp4')",
            "dynamic_signed_8bit": "bitsandbytes.functional.create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8); "
                                   "equals every stored .weight.nested_quant_map bit for bit",
        },
        "versions": versions(),
    }
    (out_root / "quant_maps.json").write_text(json.dumps(maps, indent=1) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(HERE / "goldens"))
    ap.add_argument("--cases", default=",".join(CASES))
    args = ap.parse_args()
    out_root = Path(args.out)
    out_root.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    write_quant_maps(out_root)
    for name in args.cases.split(","):
        dt = run_case(name, CASES[name], out_root)
        size = sum(f.stat().st_size for f in (out_root / name).rglob("*") if f.is_file())
        print(f"{name}: {dt:.1f}s, {size / 1024:.0f} KiB", flush=True)
    print(f"total {time.time() - t0:.1f}s", flush=True)


if __name__ == "__main__":
    main()
