"""Writes a random-weight Llama model directory (config.json + model.safetensors) for the CPU benchmark.

No hub access: the weights are seeded random, the shapes are what matters for speed.
usage: make_model.py OUT_DIR --layers 2 --hidden 256 --intermediate 688 --heads 4 --kv-heads 4 --vocab 8192
"""
import argparse

import torch
from transformers import LlamaConfig, LlamaForCausalLM


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--layers", type=int, required=True)
    p.add_argument("--hidden", type=int, required=True)
    p.add_argument("--intermediate", type=int, required=True)
    p.add_argument("--heads", type=int, required=True)
    p.add_argument("--kv-heads", type=int, required=True)
    p.add_argument("--vocab", type=int, default=8192)
    a = p.parse_args()
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=a.vocab,
        hidden_size=a.hidden,
        intermediate_size=a.intermediate,
        num_hidden_layers=a.layers,
        num_attention_heads=a.heads,
        num_key_value_heads=a.kv_heads,
        max_position_embeddings=4096,
        tie_word_embeddings=False,
    )
    LlamaForCausalLM(config).to(torch.float32).save_pretrained(a.out, safe_serialization=True)


if __name__ == "__main__":
    main()
