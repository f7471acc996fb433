"""Stage classifier: data/mnist -> data/classifier/{model.pt, metrics.json}.

    python stages/classifier.py data/mnist data/classifier [--params params.yaml]

Reads params: classifier.*. Trains the MNIST classifier whose penultimate features define the
feature space of the sample metrics. It depends only on the prepared data, so sweeps over the
VAE never retrain it.
"""
import sys
import time

import torch
from tqdm import tqdm

from priorgap.config import schema
from priorgap.tracking import stage_runs
from priorgap.config.cli import run_stage, stage_args
from priorgap.config.device import pick_device, to_tensor
from priorgap.io.outputs import atomic_dir, write_json
from priorgap.data.files import read_split
from priorgap.samples import classifier

TARGET_ACCURACY = 0.99


def main(argv=None):
    args = stage_args(__doc__.splitlines()[0], ["mnist_dir"], ["out_dir"], argv)
    params = schema.load(args.params, "classifier")
    device = pick_device(params.device, "classifier.device", args.params)
    images, labels = read_split(args.mnist_dir, "train")
    test_images, test_labels = read_split(args.mnist_dir, "test")

    with stage_runs.stage_run(
        "classifier", schema.flat(classifier=params), args.params, tags={"device": str(device)}
    ) as run:
        x, y = to_tensor(images, device), torch.from_numpy(labels).long().to(device)
        torch.manual_seed(params.seed)
        model = classifier.Classifier(classifier.ClassifierConfig(channels=params.channels)).to(device)
        start = time.perf_counter()
        bar = tqdm(total=params.epochs, desc="classifier", unit="epoch", file=sys.stderr)

        def on_epoch(row):
            run.log_metrics({"train_loss": row["train_loss"]}, step=row["epoch"])
            bar.set_postfix(loss=f"{row['train_loss']:.4f}")
            bar.update()

        classifier.train(model, x, y, params, on_epoch)
        bar.close()
        _, probs = classifier.apply(model, to_tensor(test_images, device))
        accuracy = (probs.argmax(1).cpu() == torch.from_numpy(test_labels).long()).double().mean().item()
        metrics = {"test_accuracy": accuracy}
        with atomic_dir(args.out_dir) as tmp:
            classifier.save(model.cpu(), tmp / "model.pt")
            write_json(tmp / "metrics.json", metrics)
        run.log_metrics({**metrics, "wall_seconds": time.perf_counter() - start})
        run.log_artifact(args.out_dir / "metrics.json")
        note = "" if accuracy >= TARGET_ACCURACY else f" (below {TARGET_ACCURACY:.0%}: raise classifier.epochs)"
        print(f"classifier: test accuracy {accuracy:.4f}{note}")


if __name__ == "__main__":
    run_stage("classifier", main)
