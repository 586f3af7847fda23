"""An adapter saved by loraplane's runtime, loaded by PEFT on the reference stack.

usage: check_peft_interop.py GOLDEN_CASE_DIR ADAPTER_DIR RUNTIME_LOGITS_F32
Loads the golden case's base model 4-bit (NF4, double quant, fp32 compute) exactly as make_goldens.py
does, applies the adapter with PeftModel.from_pretrained, runs the case's inputs and prints JSON with
the largest relative difference from the runtime's logits (raw little-endian float32, (B, T, V)).
"""
import json
import os
import sys

os.environ["PYTHONHASHSEED"] = "0"  # make_goldens re-executes itself unless this is set
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from peft import PeftModel  # noqa: E402

import make_goldens  # noqa: E402  (also re-registers bitsandbytes' correct CPU kernels)


def main() -> None:
    case_dir, adapter_dir, logits_path = sys.argv[1:4]
    config = json.load(open(os.path.join(case_dir, "model", "config.json")))
    arch = config["architectures"][0]
    base = make_goldens.load_4bit(make_goldens.arch_of(arch), os.path.join(case_dir, "model"), "nf4")
    model = PeftModel.from_pretrained(base, adapter_dir)
    model.train()  # the fp32 dequantize + matmul path, as in the goldens
    inputs = json.load(open(os.path.join(case_dir, "inputs.json")))
    with torch.no_grad():
        logits = model(input_ids=torch.tensor(inputs["input_ids"])).logits.float().numpy()
    runtime = np.fromfile(logits_path, dtype="<f4").reshape(logits.shape)
    rel = float(np.max(np.abs(runtime - logits)) / np.max(np.abs(logits)))
    print(json.dumps({"max_relative_error": rel, "shape": list(logits.shape), "lora_modules": len(model.peft_config["default"].target_modules)}))


if __name__ == "__main__":
    main()
