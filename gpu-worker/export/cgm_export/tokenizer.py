"""A real CLIP BPE tokenizer built offline from the merges file that open_clip_torch ships.

The SDXL hub repos carry vocab.json + merges.txt; we rebuild the same files from
`bpe_simple_vocab_16e6.txt.gz` (the original OpenAI CLIP BPE) so tiny models tokenize exactly like SDXL.
open_clip itself is never imported (it needs torchvision); only its data file is read.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

from transformers import CLIPTokenizer

VOCAB_SIZE = 49408


def bpe_file() -> Path:
    spec = importlib.util.find_spec("open_clip")  # locates the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("open_clip_torch is not installed (needed for its bundled CLIP BPE file)")
    return Path(next(iter(spec.submodule_search_locations))) / "bpe_simple_vocab_16e6.txt.gz"


def _bytes_to_unicode() -> list[str]:
    # GPT-2/CLIP byte-level alphabet: printable bytes map to themselves, the rest to code points ≥ 256.
    printable = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return [chr(c) for c in chars]


def write_vocab_and_merges(out_dir: Path) -> None:
    lines = gzip.open(bpe_file(), "rt", encoding="utf-8").read().split("\n")
    merges = [tuple(line.split()) for line in lines[1 : 49152 - 256 - 2 + 1]]  # 48894 merges, as in CLIP
    alphabet = _bytes_to_unicode()
    tokens = alphabet + [c + "</w>" for c in alphabet] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    assert len(tokens) == VOCAB_SIZE, len(tokens)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}, ensure_ascii=False))
    (out_dir / "merges.txt").write_text(
        "#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n", encoding="utf-8"
    )


def build_tokenizers(root: Path) -> None:
    """Writes diffusers-style tokenizer/ and tokenizer_2/ (TE2 pads with '!' = id 0, as SDXL does)."""
    for sub, pad in (("tokenizer", "<|endoftext|>"), ("tokenizer_2", "!")):
        d = root / sub
        write_vocab_and_merges(d)
        tok = CLIPTokenizer.from_pretrained(str(d), pad_token=pad, model_max_length=77)
        tok.save_pretrained(str(d))
