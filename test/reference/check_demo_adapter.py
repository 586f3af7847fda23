"""The adapter that `npm run demo` writes, loaded by PEFT on the reference stack.

usage: check_demo_adapter.py ADAPTER_DIR BASE_MODEL_DIR [--prompt TEXT] [--system TEXT] [--quant-type nf4|fp4]
                             [--runtime-logits FILE]
e.g.   "$(bash test/reference/setup-venv.sh)" test/reference/check_demo_adapter.py ./output examples/tiny-llama

Loads BASE_MODEL_DIR 4-bit as the demo spec quantizes it (NF4, double quantization, block size 64) with fp32
compute, as the native runtime computes in its fp32 precision, through make_goldens.load_4bit (which also puts
bitsandbytes' correct CPU kernels in place). Applies ADAPTER_DIR with PeftModel.from_pretrained, checks that
every tensor of adapter_model.safetensors is in the model unchanged, renders the prompt (default: the demo's)
with the adapter's own tokenizer and chat template, and prints one JSON line: the adapter config as PEFT read
it, the prompt's token ids, the greedy answer, how far the adapter moves the logits from the base model's and,
with --runtime-logits (raw little-endian float32, (T, V) for those token ids), the largest difference from
the runtime's logits relative to the largest |logit|.
"""
import argparse
import json
import os
import sys

os.environ["PYTHONHASHSEED"] = "0"  # make_goldens re-executes itself unless this is set
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import make_goldens  # noqa: E402  (first: quiets bitsandbytes' logger; re-registers its correct CPU kernels)

import bitsandbytes as bnb  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from peft import PeftModel  # noqa: E402
from peft.tuners.lora import LoraLayer  # noqa: E402
from peft.utils import get_peft_model_state_dict  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

# scripts/demo.sh asks the model this before and after fine-tuning.
DEMO_SYSTEM = "You are the support assistant for Acme Cloud Storage."
DEMO_PROMPT = "How much is the Pro plan per month?"


def load(adapter_dir: str, base_dir: str, quant_type: str) -> PeftModel:
    arch = json.load(open(os.path.join(base_dir, "config.json")))["architectures"][0]
    base = make_goldens.load_4bit(make_goldens.arch_of(arch), base_dir, quant_type)
    model = PeftModel.from_pretrained(base, adapter_dir)
    # Inference: no LoRA dropout. But bnb's Linear4bit in eval mode on AVX512-BF16 CPUs repacks its weight and
    # runs a bf16 kernel, so the 4-bit layers stay in train mode (the fp32 dequantize + matmul path).
    model.eval()
    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            module.train()
    return model


def unloaded_weights(model: PeftModel, adapter_dir: str) -> list[str]:
    """Tensors of the adapter file that PEFT did not put into the model as they are (PEFT only warns)."""
    saved = load_file(os.path.join(adapter_dir, "adapter_model.safetensors"))
    held = get_peft_model_state_dict(model)
    return sorted(k for k in saved.keys() | held.keys() if k not in saved or k not in held or not torch.equal(saved[k], held[k].to(saved[k].dtype)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("adapter_dir")
    parser.add_argument("base_model_dir")
    parser.add_argument("--prompt", default=DEMO_PROMPT)
    parser.add_argument("--system", default=DEMO_SYSTEM)
    parser.add_argument("--quant-type", choices=["nf4", "fp4"], default="nf4")
    parser.add_argument("--runtime-logits", help="raw little-endian float32 (T, V) from the native runtime")
    args = parser.parse_args()

    model = load(args.adapter_dir, args.base_model_dir, args.quant_type)
    tokenizer = AutoTokenizer.from_pretrained(args.adapter_dir)
    messages = [{"role": "system", "content": args.system}, {"role": "user", "content": args.prompt}]
    # Rendered, then encoded without added special tokens: the template writes them, as the trainer does.
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    ids = torch.tensor([tokenizer(text, add_special_tokens=False).input_ids])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0].float()
        with model.disable_adapter():
            base_logits = model(input_ids=ids).logits[0].float()
        answer = model.generate(input_ids=ids, max_new_tokens=64, do_sample=False)[0, ids.shape[1]:]
    scale = float(logits.abs().max())
    config = model.peft_config["default"]
    result = {
        "adapter_config": {
            "peft_type": config.peft_type,  # str enums: JSON writes their values
            "task_type": config.task_type,
            "r": config.r,
            "lora_alpha": config.lora_alpha,
            "use_rslora": config.use_rslora,
            "target_modules": sorted(config.target_modules),
            "base_model_name_or_path": config.base_model_name_or_path,
        },
        "lora_layers": sum(1 for m in model.modules() if isinstance(m, LoraLayer)),
        "unloaded_weights": unloaded_weights(model, args.adapter_dir),
        "input_ids": ids[0].tolist(),
        "answer": tokenizer.decode(answer, skip_special_tokens=True).strip(),
        "adapter_effect_relative": float((logits - base_logits).abs().max()) / scale,
    }
    if args.runtime_logits:
        runtime = np.fromfile(args.runtime_logits, dtype="<f4")
        if runtime.size != logits.numel():
            raise SystemExit(f"{args.runtime_logits}: {runtime.size} floats, expected {tuple(logits.shape)} for this prompt's {ids.shape[1]} tokens")
        result["max_relative_error"] = float(np.max(np.abs(runtime.reshape(logits.shape) - logits.numpy()))) / scale
    print(json.dumps(result))


if __name__ == "__main__":
    main()
