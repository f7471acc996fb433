"""Stage reference: data/mnist + data/classifier -> data/reference/{test.npz, metrics.json}.

    python stages/reference.py data/mnist data/classifier data/reference [--params params.yaml]

Reads params: eval.*. Everything the sample metrics need of real digits, which no VAE changes:
the test images' classifier features and k-NN radii (test.npz, what every sampler is scored
against), and the floor (metrics.json): the same metrics between the test set
and as many other real digits, drawn from the training split, as a sampler gets. It runs once
for a whole sweep over the VAE, instead of once per experiment.
"""
import time

import torch

from priorgap.config import schema
from priorgap.tracking import stage_runs
from priorgap.config.cli import run_stage, stage_args
from priorgap.config.device import pick_device, to_tensor
from priorgap.io.outputs import atomic_dir, write_json
from priorgap.data.files import read_split
from priorgap.samples import classifier
from priorgap.samples.quality import knn_radii, report
from priorgap.samples.reference import reference_settings, write_real


def main(argv=None):
    args = stage_args(__doc__.splitlines()[0], ["mnist_dir", "classifier_dir"], ["out_dir"], argv)
    params = schema.load(args.params, "eval")
    device = pick_device(params.device, "eval.device", args.params)
    clf = classifier.load(args.classifier_dir / "model.pt", device)
    test_images, test_labels = read_split(args.mnist_dir, "test")
    train_images, _ = read_split(args.mnist_dir, "train")

    with stage_runs.stage_run("reference", schema.flat(eval=params), args.params, tags={"device": str(device)}) as run:
        start = time.perf_counter()
        test_x, train_x = to_tensor(test_images, device), to_tensor(train_images, device)
        test_y = torch.from_numpy(test_labels).long().to(device)
        feats, probs = classifier.apply(clf, test_x)
        radii = knn_radii(feats, params.k)
        # The floor: real digits scored as a sampler would be, so a sampler's figures read against
        # what two independent sets of real digits reach (n_samples of them, as a sampler draws).
        pick = torch.Generator().manual_seed(params.seed)
        train_pick = torch.randperm(len(train_x), generator=pick)[: params.n_samples].to(device)
        train_feats = classifier.apply(clf, train_x[train_pick])[0]
        floor = report(test_x, feats, probs, train_feats, knn_radii(train_feats, params.k), test_y, train_x,
                       params.k, params.nn_samples, radii)

        with atomic_dir(args.out_dir) as tmp:
            write_real(tmp / "test.npz", feats.cpu().numpy(), radii.cpu().numpy(), reference_settings(params))
            write_json(tmp / "metrics.json", floor)
        run.log_metrics({**{f"floor.{k}": v for k, v in floor.items()}, "wall_seconds": time.perf_counter() - start})
        run.log_artifact(args.out_dir / "metrics.json")
        print(f"reference: floor FD {floor['fd']:.3f}  precision {floor['precision']:.3f}  recall {floor['recall']:.3f}"
              f"  coverage {floor['coverage']:.3f}  | nn-train {floor['nn_train_distance']:.2f}")


if __name__ == "__main__":
    run_stage("reference", main)
