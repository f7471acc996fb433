"""The VampPrior's test NLL against N(0, I), for several K, latent sizes and seeds.

    python benchmarks/vamp_nll.py [--latent 10 50] [--components 0 50 100 500] [--seeds 0 1]
                                  [--epochs 20] [--workers 2] [--out runs.jsonl]

Trains the model params.yaml describes (model.* and train.*, with the latent size, the prior and
the seed replaced) on data/mnist (run `dvc repro prepare` first), then reports what train and
evaluate would: the test ELBO, and the IWAE bound on the test NLL with eval.iwae_k importance
samples on the first eval.iwae_images test images. K = 0 is the N(0, I) model. Runs are shared
among `--workers` processes of one thread each (a grid's throughput); their seconds per epoch
compare with each other, while benchmarks/train_speed.py measures epochs alone on both cores.
Prints a line per run, then mean and sample sd over the seeds; --out appends one JSON line per run.
"""
import argparse
import json
import math
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(latent: int, k: int, seed: int, epochs: int) -> dict:
    import dataclasses

    import torch

    from priorgap.config import schema
    from priorgap.config.device import to_tensor
    from priorgap.data.files import read_split
    from priorgap.model import training, vae

    torch.set_num_threads(1)
    model_p, train_p = (schema.load(ROOT / "params.yaml", s) for s in ("model", "train"))
    eval_p = schema.load(ROOT / "params.yaml", "eval")
    train_p = train_p.model_copy(update={"seed": seed, "epochs": epochs})
    cfg = dataclasses.replace(vae.VAEConfig.from_params(model_p), latent_dim=latent,
                              prior="vamp" if k else "normal", prior_components=k)
    x = to_tensor(read_split(ROOT / "data" / "mnist", "train")[0], "cpu")
    val = training.fixed_binarization(to_tensor(read_split(ROOT / "data" / "mnist", "val")[0], "cpu"))
    test = training.fixed_binarization(to_tensor(read_split(ROOT / "data" / "mnist", "test")[0], "cpu"))
    torch.manual_seed(seed)  # as the train stage: the same seed, the same initial weights
    model = vae.VAE(cfg)
    seconds = []
    training.train(model, x, val, train_p, on_epoch=lambda row, s: seconds.append(s))
    iwae = vae.iwae_bound(model, test[: eval_p.iwae_images], eval_p.iwae_k, torch.Generator().manual_seed(eval_p.seed))
    return {
        "latent": latent,
        "components": k,
        "seed": seed,
        "epochs": epochs,
        "test_elbo": training.elbo(model, test)["elbo"],
        "iwae_nll": -iwae.mean().item(),
        "iwae_nll_se": (iwae.std() / math.sqrt(len(iwae))).item(),
        "seconds_per_epoch": statistics.median(seconds),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latent", type=int, nargs="+", default=[10, 50])
    ap.add_argument("--components", type=int, nargs="+", default=[0, 50, 100, 500], help="K; 0 = N(0, I)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    grid = [(z, k, s) for z in args.latent for k in args.components for s in args.seeds]
    start = time.perf_counter()
    rows = []
    with ProcessPoolExecutor(args.workers) as pool:
        for row in pool.map(run, *zip(*grid), [args.epochs] * len(grid)):
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(json.dumps(row) + "\n")
    print(
        f"\n{len(rows)} runs of {args.epochs} epochs in {time.perf_counter() - start:.0f} s, {args.workers} "
        "one-thread workers"
    )
    print(f"{'latent':>6s} {'prior':>10s} {'IWAE NLL':>18s} {'test ELBO':>18s} {'s/epoch':>8s}  (mean ± sd over seeds)")
    for z in args.latent:
        for k in args.components:
            here = [r for r in rows if r["latent"] == z and r["components"] == k]
            nll, elbo = ([r[key] for r in here] for key in ("iwae_nll", "test_elbo"))
            sd = lambda v: statistics.stdev(v) if len(v) > 1 else float("nan")  # noqa: E731
            print(
                f"{z:6d} {('vamp ' + str(k)) if k else 'N(0,I)':>10s} {statistics.mean(nll):10.2f} ± {sd(nll):5.2f} "
                f"{statistics.mean(elbo):10.2f} ± {sd(elbo):5.2f} "
                f"{statistics.mean(r['seconds_per_epoch'] for r in here):8.2f}"
            )


if __name__ == "__main__":
    main()
