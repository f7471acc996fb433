"""Stage train: data/mnist -> data/vae/{model.pt, metrics.json, history.csv, learning_curves.png}.

    python stages/train.py data/mnist data/vae [--params params.yaml]

Reads params: model.*, train.*. metrics.json and history.csv hold results only; the seconds
each epoch took go to the MLflow stage run (they change on every run, results do not).
"""
import sys
import time

import torch
from tqdm import tqdm

from priorgap.config import schema
from priorgap.tracking import stage_runs
from priorgap.config.cli import run_stage, stage_args
from priorgap.config.device import pick_device, to_tensor
from priorgap.io.outputs import atomic_dir, write_csv, write_json
from priorgap.data.files import read_split
from priorgap.model import learning_curves, training, vae


def main(argv=None):
    args = stage_args(__doc__.splitlines()[0], ["mnist_dir"], ["out_dir"], argv)
    model_params, train_params = schema.load(args.params, "model"), schema.load(args.params, "train")
    device = pick_device(train_params.device, "train.device", args.params)
    train_x = to_tensor(read_split(args.mnist_dir, "train")[0], device)
    val_bin = training.fixed_binarization(to_tensor(read_split(args.mnist_dir, "val")[0], device))
    test_bin = training.fixed_binarization(to_tensor(read_split(args.mnist_dir, "test")[0], device))
    if len(val_bin) == 0:
        raise training.TrainingError(
            f"{args.params}: data.val_size is 0, but training reports a validation ELBO; set it >= 1"
        )

    tags = {"device": str(device), "torch_threads": str(torch.get_num_threads())}
    with stage_runs.stage_run("train", schema.flat(model=model_params, train=train_params), args.params, tags) as run:
        torch.manual_seed(train_params.seed)  # initial weights: same seed, same model on any device
        model = vae.VAE(vae.VAEConfig.from_params(model_params)).to(device)
        start = time.perf_counter()
        bar = tqdm(total=train_params.epochs, desc="train", unit="epoch", file=sys.stderr)

        def on_epoch(row, seconds):
            run.log_metrics({**{k: v for k, v in row.items() if k != "epoch"}, "seconds": seconds}, step=row["epoch"])
            bar.set_postfix(train_elbo=f"{row['train_elbo']:.2f}", val_elbo=f"{row['val_elbo']:.2f}")
            bar.update()

        history = training.train(model, train_x, val_bin, train_params, on_epoch)
        bar.close()
        test = training.elbo(model, test_bin)
        last = history[-1]
        metrics = {
            "val_elbo": last["val_elbo"],
            "val_recon": last["val_recon"],
            "val_kl": last["val_kl"],
            "test_elbo": test["elbo"],
            "test_recon": test["recon"],
            "test_kl": test["kl"],
            "train_elbo": last["train_elbo"],
            # still climbing? nats per epoch over the last 20% of the epochs (the study's convergence check)
            "val_elbo_slope": training.elbo_slope(history),
        }
        with atomic_dir(args.out_dir) as tmp:
            vae.save(model.cpu(), tmp / "model.pt")
            write_json(tmp / "metrics.json", metrics)
            write_csv(tmp / "history.csv", history)
            learning_curves.learning_curves(history, tmp / "learning_curves.png")

        seconds = time.perf_counter() - start
        # val_* and train_elbo already have a curve per epoch in this run
        run.log_metrics({**{k: v for k, v in metrics.items() if k not in last}, "wall_seconds": seconds})
        for name in ("model.pt", "metrics.json", "history.csv", "learning_curves.png"):
            run.log_artifact(args.out_dir / name)
        print(
            f"train: test ELBO {metrics['test_elbo']:.2f} nats (recon {metrics['test_recon']:.2f}, "
            f"KL {metrics['test_kl']:.2f}); {seconds / len(history):.2f} s/epoch on {device}"
        )


if __name__ == "__main__":
    run_stage("train", main)
