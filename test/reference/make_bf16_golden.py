#!/usr/bin/env python3
"""The bfloat16-compute golden (goldens/llama_bf16/): the `llama` case's model and LoRA weights trained the
way a QLoRA user trains with `bnb_4bit_compute_dtype=torch.bfloat16`, on the same reference stack as
make_goldens.py (whose settings, bitsandbytes CPU kernel overrides and determinism this script imports).

    "$(bash test/reference/setup-venv.sh)" test/reference/make_bf16_golden.py [--out DIR]

The recipe (the usual QLoRA one):
  - the checkpoint is bf16: goldens/llama/model cast to bfloat16 and saved (model.safetensors holds BF16), so
    that loading it in bf16 rounds nothing and the 4-bit bytes are those of its values;
  - from_pretrained(..., quantization_config=BitsAndBytesConfig(load_in_4bit=True, nf4, double quant,
    bnb_4bit_compute_dtype=torch.bfloat16), dtype=torch.bfloat16, device_map="cpu");
  - prepare_model_for_kbit_training(use_gradient_checkpointing=True), which casts every parameter that is not
    4-bit (embeddings, norms, lm_head) to float32, so the hidden states are float32;
  - get_peft_model: LoRA A and B are float32 (PEFT upcasts adapters), PEFT casts the input to lora_A's dtype
    and the LoRA output back to the base output's dtype (both float32 here); the goldens' LoRA init.
What is bf16 then is each 4-bit projection (bitsandbytes Linear4bit.forward + the default gemm_4bit):
  x.to(bf16); W = dequantize_4bit in fp32, .to(bf16); F.linear in bf16 (fp32 accumulation) -> bf16 output
  (bias: round(acc + bf16(b))); .to(float32). Backward: dy.to(bf16) @ W (bf16 out), .to(float32).
Everything else (RMSNorm, RoPE, attention, SwiGLU, residuals, lm_head, loss, LoRA) is float32.

Written to goldens/llama_bf16/: model/ (bf16), inputs.json and lora_init.safetensors (copies of llama's),
nf4.safetensors (the 4-bit state as loaded; quant_state dtype "bfloat16"), outputs.safetensors (logits, loss,
grad.<peft key>, logits_base in bf16 compute; fp32.logits, fp32.loss, fp32.grad.<peft key>: the same
checkpoint with bnb_4bit_compute_dtype=torch.float32, for the distance between the two), meta.json (checks:
the bf16-vs-fp32 distance, and how far an fp32-GEMM emulation of the bf16 projections lands from bnb's bf16
GEMM, which is what a runtime without a bf16 GEMM computes).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_goldens as G  # noqa: E402  (re-execs with PYTHONHASHSEED=0, pins threads, registers bnb kernel overrides)

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402

import bitsandbytes as bnb  # noqa: E402
import bitsandbytes.functional as BF  # noqa: E402
import torch  # noqa: E402
from peft import get_peft_model, prepare_model_for_kbit_training  # noqa: E402
from peft.utils import set_peft_model_state_dict  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import BitsAndBytesConfig, LlamaForCausalLM  # noqa: E402

SOURCE = "llama"
NAME = "llama_bf16"


def load_qlora(model_dir, compute_dtype, lora_init):
    """The QLoRA recipe above, with compute_dtype bf16 (model loaded in bf16) or fp32 (loaded in fp32)."""
    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                               bnb_4bit_compute_dtype=compute_dtype)
    m = LlamaForCausalLM.from_pretrained(model_dir, quantization_config=quant, device_map="cpu", dtype=compute_dtype,
                                         attn_implementation=G.ATTN_IMPL)
    m = prepare_model_for_kbit_training(m, use_gradient_checkpointing=True)
    for pname, p in m.named_parameters():
        assert p.__class__.__name__ == "Params4bit" or p.dtype == torch.float32, (pname, p.dtype)
    names = G.quantized_linear_names(m)
    assert len(names) == 14
    q = G.tensors_4bit(m, names)
    for n in names:
        assert m.get_submodule(n).weight.quant_state.dtype == compute_dtype, n
    pm = get_peft_model(m, G.lora_config(G.CASES[SOURCE]))
    set_peft_model_state_dict(pm, lora_init)
    trainable = [(n, p) for n, p in pm.named_parameters() if p.requires_grad]
    assert trainable and all(p.dtype == torch.float32 for _, p in trainable)
    pm.train()  # the eval-mode trap (README): train mode, as training runs
    return pm, trainable, q


def forward_backward(pm, trainable, ids, am, labels):
    pm.zero_grad(set_to_none=True)
    out = pm(input_ids=ids, attention_mask=am, labels=labels)
    out.loss.backward()
    grads = {G.peft_key(n): p.grad.detach().clone().contiguous() for n, p in trainable}
    assert all(float(g.abs().max()) > 0 for g in grads.values())
    return out.logits.detach().clone().contiguous(), out.loss.detach().clone().reshape(()), grads


class EmulatedBf16Linear(torch.autograd.Function):
    """A 4-bit projection in bf16 compute without a bf16 GEMM: operands rounded to bf16, fp32 GEMM, output
    rounded to bf16 (round_output=False: left fp32). Backward likewise."""

    @staticmethod
    def forward(ctx, x, w, bias, round_output):
        ctx.save_for_backward(w)
        ctx.round_output = round_output
        y = x.to(torch.bfloat16).float() @ w.t()
        if bias is not None:
            y = y + bias.to(torch.bfloat16).float()
        return y.to(torch.bfloat16).float() if round_output else y

    @staticmethod
    def backward(ctx, dy):
        (w,) = ctx.saved_tensors
        dx = dy.to(torch.bfloat16).float() @ w
        return (dx.to(torch.bfloat16).float() if ctx.round_output else dx), None, None, None


def emulate_projections(pm, round_output):
    for mod in pm.modules():
        if isinstance(mod, bnb.nn.Linear4bit):
            w = BF.dequantize_4bit(mod.weight.data, mod.weight.quant_state).to(torch.bfloat16).float()
            mod.forward = (lambda m, w: lambda x: EmulatedBf16Linear.apply(x, w, m.bias, round_output))(mod, w)


def rel(a, ref):
    return float((a.double() - ref.double()).abs().max() / ref.double().abs().max())


def distance(a, b):
    """(logits, loss, grads) a against b: max relative logits error, loss abs, worst grad relative error."""
    return {"logits_rel": rel(a[0], b[0]), "loss_abs": float((a[1].double() - b[1].double()).abs()),
            "grad_rel_worst": max(rel(a[2][k], b[2][k]) for k in b[2])}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(G.HERE / "goldens"))
    args = ap.parse_args()
    t0 = time.time()
    src = G.HERE / "goldens" / SOURCE
    cdir = Path(args.out) / NAME
    if cdir.exists():
        shutil.rmtree(cdir)
    cdir.mkdir(parents=True)
    src_meta = json.loads((src / "meta.json").read_text())

    # ---- 1. the bf16 checkpoint, the inputs and the LoRA init (llama's) ----
    LlamaForCausalLM.from_pretrained(src / "model", dtype=torch.float32).to(torch.bfloat16).save_pretrained(cdir / "model")
    assert json.loads((cdir / "model" / "config.json").read_text())["dtype"] == "bfloat16"
    for f in ("inputs.json", "lora_init.safetensors"):
        shutil.copyfile(src / f, cdir / f)
    lora_init = load_file(cdir / "lora_init.safetensors")
    inputs = json.loads((cdir / "inputs.json").read_text())
    ids, am, labels = (torch.tensor(inputs[k]) for k in ("input_ids", "attention_mask", "labels"))

    # ---- 2. bf16 compute: 4-bit state, forward + backward, the base alone ----
    pm, trainable, q = load_qlora(cdir / "model", torch.bfloat16, lora_init)
    names = sorted({k[: k.index(".weight")] for k in q})
    bf16_sd = load_file(cdir / "model" / "model.safetensors")
    for n in names:
        # bitsandbytes quantizes a bf16 weight's fp32 values: the bytes of the fp32 goldens' algorithm.
        qq, qst = BF.quantize_4bit(bf16_sd[n + ".weight"].float(), blocksize=64, compress_statistics=True, quant_type="nf4")
        assert torch.equal(qq, q[n + ".weight"]) and torch.equal(qst.absmax, q[n + ".weight.absmax"]), n
        assert torch.equal(qst.state2.absmax, q[n + ".weight.nested_absmax"]), n
    save_file(q, str(cdir / "nf4.safetensors"), metadata={"format": "pt"})

    bf16 = forward_backward(pm, trainable, ids, am, labels)
    outputs = {"logits": bf16[0], "loss": bf16[1]}
    outputs.update({"grad." + k: v for k, v in bf16[2].items()})
    with torch.no_grad(), pm.disable_adapter():
        outputs["logits_base"] = pm(input_ids=ids, attention_mask=am).logits.detach().clone().contiguous()
    checks = {"loss_vs_manual_formula_absdiff": G.maxdiff(bf16[1], G.manual_causal_lm_loss(bf16[0], labels))}

    # ---- 3. what an fp32 GEMM over bf16-rounded operands gives instead of bnb's bf16 GEMM ----
    emulate_projections(pm, round_output=True)
    checks["emulated_fp32_gemm_vs_bf16"] = distance(forward_backward(pm, trainable, ids, am, labels), bf16)
    emulate_projections(pm, round_output=False)
    checks["emulated_fp32_gemm_fp32_output_vs_bf16"] = distance(forward_backward(pm, trainable, ids, am, labels), bf16)
    del pm

    # ---- 4. the same checkpoint in fp32 compute ----
    pm32, trainable32, _ = load_qlora(cdir / "model", torch.float32, lora_init)
    fp32 = forward_backward(pm32, trainable32, ids, am, labels)
    outputs.update({"fp32.logits": fp32[0], "fp32.loss": fp32[1]})
    outputs.update({"fp32.grad." + k: v for k, v in fp32[2].items()})
    checks["bf16_vs_fp32"] = distance(bf16, fp32)
    save_file(outputs, str(cdir / "outputs.safetensors"), metadata={"format": "pt"})

    meta = {
        "case": NAME,
        "source_case": SOURCE,
        "versions": G.versions(),
        "arch": "llama",
        "model_class": "LlamaForCausalLM",
        "attn_implementation": G.ATTN_IMPL,
        "checkpoint": f"goldens/{SOURCE}/model cast to bfloat16 (model.safetensors: BF16)",
        "quantization": dict(G.QUANT, compute_dtype="bfloat16", load_dtype="bfloat16", quant_type="nf4",
                             quantized_modules=names),
        "recipe": "from_pretrained(dtype=bfloat16, BitsAndBytesConfig(nf4, double quant, bnb_4bit_compute_dtype=bfloat16)), "
                  "prepare_model_for_kbit_training(use_gradient_checkpointing=True) (non-4-bit parameters to float32), "
                  "get_peft_model (LoRA float32), train mode; fp32.*: the same with compute_dtype and dtype float32",
        "bf16_in_the_reference": "each 4-bit projection: x.to(bf16), dequantize (fp32) .to(bf16), F.linear in bf16 with fp32 "
                                 "accumulation, bf16 output (bias: bf16(acc + bf16(b))) .to(float32); backward dy.to(bf16) @ W "
                                 "in bf16, .to(float32). All else float32.",
        "lora": src_meta["lora"],
        "inputs": src_meta["inputs"],
        "runtime": src_meta["runtime"],
        "bnb_cpu_kernel_overrides": src_meta["bnb_cpu_kernel_overrides"],
        "checks": checks,
    }
    (cdir / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    size = sum(f.stat().st_size for f in cdir.rglob("*") if f.is_file())
    print(json.dumps(checks))
    print(f"{NAME}: {time.time() - t0:.1f}s, {size / 1024:.0f} KiB", flush=True)


if __name__ == "__main__":
    main()
