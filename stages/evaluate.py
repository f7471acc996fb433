"""Stage evaluate: decoded samples of every fitted density against the MNIST test set.

    python stages/evaluate.py data/mnist data/vae data/posterior data/classifier data/reference data/eval \\
        [--params params.yaml]

Reads params: eval.*. Writes data/eval/{metrics.json, table.csv, holes.csv, comparison.png, holes.png,
hole_draws.png, thread.png, samples/ (the sample grids), grids.npz (their pixels, which a study
run's record keeps)}; its wall time goes to the MLflow stage run only. The test
set's features and the floor come from the reference stage, computed once for every VAE of a
sweep; what is measured is priorgap.samples.evaluation's. `bound_density` is the density the validation
codes chose in fit_posterior (the held-out bound's).
"""

import sys
import time

import torch
from tqdm import tqdm

from priorgap.config import schema
from priorgap.tracking import stage_runs
from priorgap.config.cli import run_stage, stage_args
from priorgap.config.device import pick_device, to_tensor
from priorgap.io.files import read_metrics
from priorgap.io.outputs import atomic_dir, flatten_dict
from priorgap.data.files import read_split
from priorgap.latent import densities
from priorgap.model import vae
from priorgap.samples import classifier, evaluation
from priorgap.samples.reference import read_real, reference_settings


def main(argv=None):
    args = stage_args(
        __doc__.splitlines()[0],
        ["mnist_dir", "vae_dir", "posterior_dir", "classifier_dir", "reference_dir"],
        ["out_dir"],
        argv,
    )
    params = schema.load(args.params, "eval")
    device = pick_device(params.device, "eval.device", args.params)
    model = vae.load(args.vae_dir / "model.pt", device)
    clf = classifier.load(args.classifier_dir / "model.pt", device)
    samplers = {name: densities.load(args.posterior_dir / "densities" / f"{name}.pt") for name in densities.names()}
    bound_density = read_metrics(args.posterior_dir / "metrics.json", "fit_posterior")["kl_q_prior_lower_bound_density"]
    test_images, test_labels = read_split(args.mnist_dir, "test")
    train_images, _ = read_split(args.mnist_dir, "train")
    real = read_real(args.reference_dir / "test.npz", len(test_images), reference_settings(params))
    floor = read_metrics(args.reference_dir / "metrics.json", "reference")

    with stage_runs.stage_run("evaluate", schema.flat(eval=params), args.params, tags={"device": str(device)}) as run:
        start = time.perf_counter()
        inputs = evaluation.Inputs(
            to_tensor(test_images, device),
            test_labels,
            to_tensor(train_images, device),
            *(torch.from_numpy(a).to(device) for a in real),
            floor,
        )
        with tqdm(total=len(samplers) + 2, desc="evaluate", unit="step", file=sys.stderr) as bar:
            begun = []

            def progress(step):  # a step begins: the one before it is done
                bar.update(len(begun) > 0)
                begun.append(step)
                bar.set_postfix_str(step)

            ev = evaluation.evaluate(model, clf, samplers, bound_density, inputs, params, device, progress)
            bar.update()
        with atomic_dir(args.out_dir) as tmp:
            evaluation.write(ev, tmp, samplers, bound_density, inputs, device)

        run.log_metrics(
            {k: v for k, v in flatten_dict(ev.metrics).items() if not isinstance(v, str)}
            | {"wall_seconds": time.perf_counter() - start}
        )
        for name in (
            "metrics.json",
            "table.csv",
            "holes.csv",
            "comparison.png",
            "holes.png",
            "hole_draws.png",
            "thread.png",
            "samples",
        ):
            run.log_artifact(args.out_dir / name, folder="samples" if name == "samples" else None)
        m = ev.metrics
        h = {k: float("nan") if v is None else v for k, v in m["holes"]["prior"].items()}
        print(
            f"evaluate: IWAE NLL {m['iwae_nll']:.2f} nats, ex post ({bound_density} as the prior) "
            f"{m['iwae_nll_expost']:.2f} (k={params.iwae_k}, {min(params.iwae_images, len(test_images))} "
            "images); prior draws in holes "
            f"{h['share']:.3f}, precision there {h['precision_real_in']:.3f} against {h['precision_real_out']:.3f}"
        )
        for name, row in {**ev.rows, **ev.references}.items():
            vr = row.get("vs_recon", {})
            print(
                f"  {name:15s} FD {row['fd']:8.3f}  precision {row['precision']:.3f}  recall {row['recall']:.3f}"
                f"  coverage {row['coverage']:.3f}  | vs recon FD {vr.get('fd', float('nan')):7.3f}"
                f"  recall {vr.get('recall', float('nan')):.3f}  | nn-train {row['nn_train_distance']:.2f}"
            )


if __name__ == "__main__":
    run_stage("evaluate", main)
