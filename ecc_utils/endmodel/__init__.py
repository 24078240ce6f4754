"""The end model's own code (the paper's ChatGLM3-6B role; Gemma 3 270M offline).

| module | role |
|---|---|
| `load` | a spec to (model, tokenizer): packaged offline models, hub ids, tiny random ones; dtypes and devices |
| `shaped` | ChatGLM3-6B-shaped random models (transformers' GLM architecture, no hub) |
| `peft_methods` | the three methods of Table IV as PEFT configs (`PeftSpec`) |
| `generate` | batched seeded sampling with the paper's settings (`Sampling`), adapters on and off |
| `decoding` | the decoding loop with a key/value cache, also for PEFT's prefixes |
| `nucleus` | the exact top-p sampler |
| `likelihood` | the log-probability of a reply given its dialogue (perplexity, selection) |

Modules are imported by name (``from ecc_utils.endmodel import generate``); nothing heavy loads
with the package.
"""
