"""The one training configuration of the committed world model (every number that made the weights)."""

TRAIN = {
    "seed": 20261206,
    "train_scenes": 16000,  # seeds [train_first_seed, +n)
    "train_first_seed": 1_000_000,
    "heldout_first_seed": 9_000_000,  # never trained on: oracle accuracy, prompt fidelity
    "vae": {"widths": [16, 16, 32, 32], "steps": 1200, "batch": 16, "lr": 1e-3, "kl": 1e-6},
    "oracle": {"steps": 1500, "batch": 64, "lr": 2e-3},
    "unet": {
        "widths": [32, 64, 128],
        "heads": [2, 4, 4],
        "steps": 8000,
        "batch": 32,
        "lr": 1e-3,
        "warmup": 300,
        "ema": 0.999,
        "min_snr_gamma": 5.0,
        "checkpoint_every": 500,
    },
    "threads": 2,
}
