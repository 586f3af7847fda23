"""The reference stack on a GGUF base model (SmolLM2-135M-Instruct Q4_1 from fetch-smollm2.sh).

usage: gguf_reference.py GGUF_FILE OUT_DIR

transformers loads the GGUF (gguf-py dequantizes every tensor to fp32 and un-permutes llama's q/k rows) into
a dense fp32 model, with its tokenizer and chat template from the same metadata. The demo's question is
rendered with that template and tokenized; OUT_DIR/inputs.json holds the ids, and 16 training and 8 held-out
conversations of the bundled support dataset tokenized the same way (labels: the answer's tokens). OUT_DIR/reference.safetensors
holds the logits (T, V) of:
  fp32        the dense fp32 model as transformers loads it;
  nf4_dense   the same model with each attention and MLP projection replaced by bitsandbytes' NF4 round trip
              (quantize_4bit with double quantization, block size 64, then dequantize_4bit), computed in fp32:
              what the runtime computes on its NF4 base in fp32 precision. bitsandbytes' own Linear4bit forward
              dequantizes the same way and rounds the weight to the checkpoint's dtype, float32 here (transformers
              loads a GGUF dense in fp32), so it computes these logits too; transformers refuses a
              quantization_config with a GGUF file and will not save a GGUF-loaded model, so it is not run.
Prints one JSON line: the ids and the distances between these, relative to the largest |logit|.
"""
import json
import os
import sys

os.environ["PYTHONHASHSEED"] = "0"  # make_goldens re-executes itself unless this is set
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import make_goldens  # noqa: E402  (first: quiets bitsandbytes' logger; re-registers its correct CPU kernels)

import bitsandbytes.functional as BF  # noqa: E402
import torch  # noqa: E402
from check_demo_adapter import DEMO_PROMPT, DEMO_SYSTEM  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def rel(a, b):
    return float((a.double() - b.double()).abs().max() / b.double().abs().max())


def main():
    gguf_file, out_dir = sys.argv[1], sys.argv[2]
    torch.manual_seed(0)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    folder, name = os.path.split(gguf_file)
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    messages = [{"role": "system", "content": DEMO_SYSTEM}, {"role": "user", "content": DEMO_PROMPT}]
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False)
    x = torch.tensor([ids])

    def example(line):
        """One support conversation as the trainer trains on it: the loss on the assistant's answer only."""
        msgs = json.loads(line)["messages"]
        prompt = tok.apply_chat_template(msgs[:-1], add_generation_prompt=True, tokenize=True, return_dict=False)
        full = tok.apply_chat_template(msgs, tokenize=True, return_dict=False)
        assert full[: len(prompt)] == prompt
        return {"input_ids": full, "labels": [-100] * len(prompt) + full[len(prompt) :]}

    data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "data")
    with open(os.path.join(data, "customer-support.jsonl")) as f:
        train = [example(line) for line in f.readlines()[:16]]
    with open(os.path.join(data, "customer-support-heldout.jsonl")) as f:
        held_out = [example(line) for line in f.readlines()[:8]]

    with torch.no_grad():
        dense = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
        fp32 = dense(x).logits[0]
        for layer in dense.model.layers:
            for p in PROJECTIONS:
                mod = layer.self_attn if p.endswith(("q_proj", "k_proj", "v_proj", "o_proj")) else layer.mlp
                lin = getattr(mod, p)
                q, state = BF.quantize_4bit(lin.weight.data, blocksize=64, quant_type="nf4", compress_statistics=True)
                lin.weight.data = BF.dequantize_4bit(q, state).to(torch.float32)
        nf4_dense = dense(x).logits[0]


    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "inputs.json"), "w") as f:
        json.dump({"input_ids": ids, "train": train, "eval": held_out}, f)
    save_file(
        {"fp32": fp32.contiguous(), "nf4_dense": nf4_dense.contiguous()},
        os.path.join(out_dir, "reference.safetensors"),
    )
    print(
        json.dumps(
            {
                "input_ids": ids,
                "nf4_dense_vs_fp32": rel(nf4_dense, fp32),
            }
        )
    )


if __name__ == "__main__":
    main()
