"""The reference for gguf-tokenizer.test.ts: transformers' tokenizer built from a GGUF file's metadata
(AutoTokenizer.from_pretrained(dir, gguf_file=name), the tokenizer only, no weights), its ids for each
text and its chat template rendered for each conversation, as JSON on stdout.

    python test/reference/gguf_tokenizer_reference.py MODEL.gguf < cases.json

cases.json: {"texts": [str, ...], "conversations": [[{"role", "content"}, ...], ...]}; the output
{"ids": [[int, ...], ...] (add_special_tokens=True), "ids_plain": [...] (False), "rendered": [str, ...]
(add_generation_prompt=False), "prompts": [str, ...] (True), "special": {bos/eos/pad/unk token strings}}.
"""

import json
import os
import sys

from transformers import AutoTokenizer


def main() -> None:
    path = sys.argv[1]
    cases = json.load(sys.stdin)
    tok = AutoTokenizer.from_pretrained(os.path.dirname(os.path.abspath(path)), gguf_file=os.path.basename(path))
    out = {
        "ids": [tok(t, add_special_tokens=True)["input_ids"] for t in cases["texts"]],
        "ids_plain": [tok(t, add_special_tokens=False)["input_ids"] for t in cases["texts"]],
        "rendered": [tok.apply_chat_template(c, tokenize=False, add_generation_prompt=False) for c in cases["conversations"]],
        "prompts": [tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in cases["conversations"]],
        "special": {k: getattr(tok, k) for k in ("bos_token", "eos_token", "pad_token", "unk_token")},
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
