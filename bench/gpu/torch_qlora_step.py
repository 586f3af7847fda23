"""The peer for bench/gpu/run.sh: one QLoRA training configuration with PyTorch + PEFT + bitsandbytes on
the GPU, set up as the native runtime is (NF4 + double quant, bf16 compute, r 16 alpha 32 on all seven
projections, no dropout, gradient checkpointing, AdamW, clipping at 1.0, PyTorch's SDPA attention),
timed over STEPS steps after a warm-up. Prints one JSON line (peak = torch.cuda.max_memory_allocated
over the timed steps; device_used = what the device reports in use, context included).
usage: torch_qlora_step.py MODEL_DIR --batch 1 --seq 2048 --steps 5
"""
import argparse
import json
import time

import torch
from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
from transformers import AutoModelForCausalLM, BitsAndBytesConfig


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--seq", type=int, default=2048)
    p.add_argument("--steps", type=int, default=5)
    a = p.parse_args()
    torch.manual_seed(0)
    t0 = time.perf_counter()
    quant = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )
    model = AutoModelForCausalLM.from_pretrained(
        a.model, quantization_config=quant, device_map={"": 0}, dtype=torch.bfloat16, attn_implementation="sdpa"
    )
    model = prepare_model_for_kbit_training(
        model, use_gradient_checkpointing=True, gradient_checkpointing_kwargs={"use_reentrant": False}
    )
    lora = LoraConfig(
        r=16,
        lora_alpha=32,
        lora_dropout=0.0,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lora)
    model.train()
    load_s = time.perf_counter() - t0
    params = [q for q in model.parameters() if q.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    ids = torch.randint(0, model.config.vocab_size, (a.batch, a.seq), device="cuda")

    def step() -> float:
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return out.loss.item()

    step()  # warm-up: allocations, kernel selection
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    loss = 0.0
    for _ in range(a.steps):
        loss = step()
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0
    free, total = torch.cuda.mem_get_info()
    print(
        json.dumps(
            {
                "tokens_per_second": a.batch * a.seq * a.steps / elapsed,
                "seconds_per_step": elapsed / a.steps,
                "peak_memory_mib": torch.cuda.max_memory_allocated() / 2**20,
                "device_used_mib": (total - free) / 2**20,
                "load_seconds": load_s,
                "loss": loss,
                "device": torch.cuda.get_device_name(0),
            }
        )
    )


if __name__ == "__main__":
    main()
