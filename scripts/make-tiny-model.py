#!/usr/bin/env python3
"""Builds examples/tiny-llama/: the tiny Llama-architecture model that `npm run demo` fine-tunes on the CPU.

Nothing is downloaded. Everything is made here from the bundled data in examples/data/
(scripts/make-support-dataset.py writes it):

  tokenizer  byte-level BPE (HF `tokenizers`), 1024 tokens, trained on the support conversations and the
             help-center articles, with ChatML special tokens. tokenizer.json, and tokenizer_config.json
             with the chat template (a Jinja string), bos/eos/pad and model_max_length.
  model      LlamaForCausalLM: hidden 160, 4 layers, 4 heads, 2 key-value heads, MLP 448, untied
             embeddings, 512 positions (1.5 M parameters), saved with save_pretrained in bfloat16
             (config.json, generation_config.json, model.safetensors; about 3 MB).

Why the base model is pre-trained, and on what
----------------------------------------------
A randomly initialised base cannot be rescued by LoRA alone: its final RMSNorm weight and lm_head stay
frozen at their initial scale (norm weight 1, lm_head std 0.02), so no hidden state can make any logit
larger than about 3 and the answer loss stalls near 4.8 whatever the adapters learn (measured with the
native runtime: 600 steps, loss 6.9 -> 4.8, and the generations stay word salad).

So the base is pre-trained briefly (300 torch steps, well under a minute on 2 CPU cores) on text that
contains NO support answer:
  * the help-center articles (examples/data/help-center.txt): product facts in an impersonal reference
    style, so the base knows the product's vocabulary ("Settings > Plan", "Files > Trash", "HTTP 429");
  * the customers' side of every training conversation: the system prompt and the user turn in the
    ChatML template, so the base knows the template's structure but has never seen an assistant turn.
Asked a question before fine-tuning, the base therefore rambles like a customer ("Hi, I need all my
data? Thanks in advance."). The LoRA fine-tune has to teach it the assistant role, which answer goes
with which question, and the support answer wording, which is what the demo shows. (Pre-training on the
questions alone, without the help center, leaves a third of the answer tokens unseen and the fine-tune
ends near loss 1.5 with garbled answers.)

Deterministic: fixed seeds, one torch thread, a step count rather than a time budget; the same machine
writes byte-identical files. Run it with the reference venv's python (torch, transformers, tokenizers):

    "$(bash test/reference/setup-venv.sh)" scripts/make-tiny-model.py
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "examples" / "data" / "customer-support.jsonl"
HELP = ROOT / "examples" / "data" / "help-center.txt"
OUT = ROOT / "examples" / "tiny-llama"
SEED = 1234

# ChatML. <|im_end|> ends a turn: it is the eos, and what generation stops on.
PAD, BOS, EOT, IM_START, IM_END = "<|pad|>", "<|begin_of_text|>", "<|end_of_text|>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = [PAD, BOS, EOT, IM_START, IM_END]  # ids 0..4
# The dataset's system prompt; the template adds it when a conversation has none.
DEFAULT_SYSTEM = "You are the support assistant for Acme Cloud Storage."
CHAT_TEMPLATE = (
    "{{- bos_token -}}"
    "{%- if messages[0]['role'] != 'system' -%}"
    "{{- '<|im_start|>system\\n" + DEFAULT_SYSTEM + "<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- endif -%}"
)

VOCAB_SIZE = 1024
MODEL = dict(
    hidden_size=160,
    intermediate_size=448,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=512,
    rms_norm_eps=1e-5,
    rope_theta=10000.0,
    tie_word_embeddings=False,
    hidden_act="silu",
    initializer_range=0.02,
    attention_bias=False,
    mlp_bias=False,
)
MAX_LENGTH = 512
PRETRAIN = dict(steps=300, batch=16, lr=3e-3, warmup=20, help_repeat=3)


def log(msg: str) -> None:
    print(msg, flush=True)


def conversations() -> list[list[dict]]:
    return [json.loads(line)["messages"] for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]


def help_center() -> list[str]:
    return [line for line in HELP.read_text(encoding="utf-8").splitlines() if line.strip()]


def train_tokenizer(rows: list[list[dict]]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    texts = [m["content"] for msgs in rows for m in msgs] + help_center() + ["system", "user", "assistant"]
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    for i, t in enumerate(SPECIAL_TOKENS):
        assert tok.token_to_id(t) == i, (t, tok.token_to_id(t))
    return tok


def tokenizer_config() -> dict:
    added = {
        str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": True}
        for i, t in enumerate(SPECIAL_TOKENS)
    }
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "added_tokens_decoder": added,
        "bos_token": BOS,
        "eos_token": IM_END,
        "pad_token": PAD,
        "unk_token": None,
        "add_bos_token": False,  # the chat template writes bos_token itself
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": MAX_LENGTH,
        "padding_side": "right",
        "chat_template": CHAT_TEMPLATE,
    }


def pretrain_sequences(tok, rows: list[list[dict]]) -> list[list[int]]:
    """Token ids of every pre-training document. None of them contains an assistant turn."""
    bos, eot = tok.token_to_id(BOS), tok.token_to_id(EOT)
    articles = [[bos, *tok.encode(a).ids, eot] for a in help_center()] * PRETRAIN["help_repeat"]
    customer_side = [
        tok.encode(BOS + "".join(f"{IM_START}{m['role']}\n{m['content']}{IM_END}\n" for m in msgs if m["role"] != "assistant")).ids
        for msgs in rows
    ]
    return articles + customer_side


def pretrain(model, seqs: list[list[int]]) -> None:
    import torch

    steps, batch, lr, warmup = PRETRAIN["steps"], PRETRAIN["batch"], PRETRAIN["lr"], PRETRAIN["warmup"]
    rng = random.Random(SEED)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warmup if s < warmup else 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, steps - warmup)))
    )
    model.train()
    order: list[int] = []
    t0 = time.time()
    for step in range(steps):
        if len(order) < batch:
            order += rng.sample(range(len(seqs)), len(seqs))
        pick, order = order[:batch], order[batch:]
        T = max(len(seqs[i]) for i in pick)
        ids = torch.zeros((batch, T), dtype=torch.long)
        labels = torch.full((batch, T), -100, dtype=torch.long)
        for r, i in enumerate(pick):
            ids[r, : len(seqs[i])] = torch.tensor(seqs[i])
            labels[r, : len(seqs[i])] = torch.tensor(seqs[i])
        loss = model(input_ids=ids, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 50 == 0 or step == steps - 1:
            log(f"  pre-train step {step + 1:3d}/{steps}  loss {loss.item():.3f}  ({time.time() - t0:.1f}s)")
    model.eval()


def main() -> int:
    ap = argparse.ArgumentParser(description="Build examples/tiny-llama (tokenizer + tiny Llama) from the bundled data.")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    t0 = time.time()
    torch.manual_seed(SEED)
    torch.set_num_threads(1)  # a fixed reduction order: byte-identical output on a given machine
    torch.use_deterministic_algorithms(True)

    rows = conversations()
    tok = train_tokenizer(rows)
    vocab = tok.get_vocab_size()
    log(f"tokenizer: {vocab} tokens, trained on {len(rows)} conversations and {len(help_center())} help-center articles")

    config = LlamaConfig(
        vocab_size=vocab,
        bos_token_id=SPECIAL_TOKENS.index(BOS),
        eos_token_id=SPECIAL_TOKENS.index(IM_END),
        pad_token_id=SPECIAL_TOKENS.index(PAD),
        **MODEL,
    )
    model = LlamaForCausalLM(config)
    log(f"model: LlamaForCausalLM, {sum(p.numel() for p in model.parameters()):,} parameters")
    pretrain(model, pretrain_sequences(tok, rows))

    out: Path = args.out.resolve()
    if out.exists():
        for p in out.iterdir():
            if p.name != "README.md":
                shutil.rmtree(p) if p.is_dir() else p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    model = model.to(torch.bfloat16)
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id,
        eos_token_id=[SPECIAL_TOKENS.index(IM_END), SPECIAL_TOKENS.index(EOT)],
        pad_token_id=config.pad_token_id,
        do_sample=False,
        max_new_tokens=96,
    )
    model.save_pretrained(out)
    tok.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(), indent=2) + "\n", encoding="utf-8")
    for p in sorted(out.iterdir()):
        log(f"  {p.name:24s} {p.stat().st_size:>10,} bytes")
    log(f"wrote {out} in {time.time() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
