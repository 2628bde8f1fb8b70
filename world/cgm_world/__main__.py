"""python -m cgm_world (called by `cgm world …`): train | render | dataset | check."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cgm_world")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train the world model and the oracle from scratch (resumable)")
    t.add_argument("--out", type=Path, default=ROOT / "world" / "model")
    t.add_argument("--work", type=Path, default=ROOT / ".cache" / "world" / "train")
    t.add_argument("--stop-after", choices=["vae", "oracle"])
    a = p.parse_args(argv)
    if a.cmd == "train":
        from .train import run

        run(a.out, a.work, a.stop_after)
    return 0


if __name__ == "__main__":
    sys.exit(main())
