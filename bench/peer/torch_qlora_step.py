"""The peer for bench/native-vs-torch.ts: one QLoRA training configuration run with PyTorch + PEFT +
bitsandbytes on the CPU (NF4, double quant, r 16 on all seven projections, AdamW, gradient checkpointing),
timed over a few steps after a warm-up. Prints one JSON line.
--compute-dtype float32 (default): bnb_4bit_compute_dtype=torch.float32, everything in fp32.
--compute-dtype bfloat16: bnb_4bit_compute_dtype=torch.bfloat16, and each step under
torch.autocast("cpu", dtype=torch.bfloat16) (PyTorch's bf16 CPU training: autocast also runs LoRA, lm_head
and attention's matmuls in bf16, which the native runtime's bf16 precision keeps fp32).
usage: torch_qlora_step.py MODEL_DIR --batch 4 --seq 256 --steps 5 --threads 2 [--compute-dtype bfloat16]
"""
import argparse
import contextlib
import json
import resource
import time

import torch
from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
from transformers import AutoModelForCausalLM, BitsAndBytesConfig


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--compute-dtype", choices=["float32", "bfloat16"], default="float32")
    a = p.parse_args()
    bf16 = a.compute_dtype == "bfloat16"
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    quant = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16 if bf16 else torch.float32,
    )
    model = AutoModelForCausalLM.from_pretrained(a.model, quantization_config=quant, device_map="cpu", dtype=torch.float32)
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
    lora = LoraConfig(
        r=16,
        lora_alpha=32,
        lora_dropout=0.0,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lora)
    model.train()
    params = [q for q in model.parameters() if q.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    vocab = model.config.vocab_size
    ids = torch.randint(0, vocab, (a.batch, a.seq))

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
            out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()  # warm-up: allocations, kernel selection
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    elapsed = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"tokens_per_second": a.batch * a.seq * a.steps / elapsed, "peak_rss_mib": peak_mib, "seconds_per_step": elapsed / a.steps}))


if __name__ == "__main__":
    main()
