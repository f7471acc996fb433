"""Stage evaluate: decoded samples of every fitted density against the MNIST test set.

    python stages/evaluate.py data/mnist data/vae data/posterior data/classifier data/reference data/eval [--params params.yaml]

Reads params: eval.*. Writes data/eval/{metrics.json, table.csv, comparison.png,
samples/<sampler>.png}; its wall time goes to the MLflow stage run only. The test set's features
and the floor come from the reference stage, computed once for every VAE of a sweep.
"""
import sys
import time

import torch
from tqdm import tqdm

from priorgap.common import config, tracking
from priorgap.common.cli import run_stage, stage_args
from priorgap.common.device import pick_device, to_tensor
from priorgap.common.files import read_metrics
from priorgap.common.outputs import atomic_dir, flatten_dict, write_csv, write_json
from priorgap.data.files import read_split
from priorgap.latent import densities
from priorgap.model import training, vae
from priorgap.samples import classifier, plots
from priorgap.samples.quality import knn_radii, report, versus
from priorgap.samples.reference import read_real, reference_settings


def main(argv=None):
    args = stage_args(__doc__.splitlines()[0], ["mnist_dir", "vae_dir", "posterior_dir", "classifier_dir", "reference_dir"],
                      ["out_dir"], argv)
    params = config.load(args.params, "eval")
    device = pick_device(params.device, "eval.device")
    model = vae.load(args.vae_dir / "model.pt", device)
    clf = classifier.load(args.classifier_dir / "model.pt", device)
    samplers = {name: densities.load(args.posterior_dir / "densities" / f"{name}.pt") for name in densities.NAMES}
    test_images, test_labels = read_split(args.mnist_dir, "test")
    train_images, _ = read_split(args.mnist_dir, "train")
    real = read_real(args.reference_dir / "test.npz", len(test_images), reference_settings(params))
    floor = read_metrics(args.reference_dir / "metrics.json", "reference")

    with tracking.stage_run("evaluate", config.flat(eval=params), args.params, tags={"device": str(device)}) as run:
        start = time.perf_counter()
        test_x, train_x = to_tensor(test_images, device), to_tensor(train_images, device)
        test_y = torch.from_numpy(test_labels).long().to(device)
        real_feats, real_radii = (torch.from_numpy(a).to(device) for a in real)
        # The test codes come from the fixed binarisation of the test images, as in encode and in
        # the ELBO: reconstructions decode one z ~ Q(z|x) per test image, which is what a perfect
        # sampler of the population's codes would give through this decoder.
        test_bin = training.fixed_binarization(test_x)
        g = torch.Generator(device=device).manual_seed(params.seed)
        with torch.no_grad():
            recon = []
            for c in test_bin.split(4096):
                mu, logvar = model.encode(c)
                z = mu + torch.randn(mu.shape, generator=g, device=device) * torch.exp(0.5 * logvar)
                recon.append(torch.sigmoid(model.decode(z)))
            recon = torch.cat(recon)
            recon_scored = classifier.apply(clf, recon)
        recon_feats = recon_scored[0]
        recon_radii = knn_radii(recon_feats, params.k)

        def score(images, vs_recon=True, scored=None, own=None):
            feats, probs = scored or classifier.apply(clf, images)
            if own is None:  # the samples' own balls (recall), shared by both comparisons
                own = knn_radii(feats, params.k)
            row = report(images, feats, probs, real_feats, real_radii, test_y, train_x, params.k, params.nn_samples, own)
            if vs_recon:  # the same figures with the decoder held fixed
                vr = versus(feats, recon_feats, recon_radii, params.k, own)
                row["vs_recon"] = {k: v for k, v in vr.items() if k != "density"}
            return row

        decoded = {}
        rows = {}
        bar = tqdm(total=len(samplers) + 2, desc="evaluate", unit="step", file=sys.stderr)
        with torch.no_grad():
            for name, density in samplers.items():
                bar.set_postfix_str(name)
                z = density.sample(params.n_samples, params.seed).to(device)
                decoded[name] = torch.cat([torch.sigmoid(model.decode(c)) for c in z.split(4096)])  # Bernoulli means
                rows[name] = score(decoded[name])
                bar.update()
            bar.set_postfix_str("references")
            # references: two independent draws of real digits (the floor), and the reconstructions
            references = {"floor": floor, "reconstruction": score(recon, vs_recon=False, scored=recon_scored, own=recon_radii)}
            bar.update()
            bar.set_postfix_str("IWAE bound")
            iwae = vae.iwae_bound(model, test_bin[: params.iwae_images], params.iwae_k,
                                  torch.Generator(device=device).manual_seed(params.seed))
            bar.update()
        bar.close()
        metrics = {
            "iwae_nll": -iwae.mean().item(),
            "iwae_nll_se": (iwae.std() / len(iwae) ** 0.5).item(),
            **rows,
            **references,
        }
        table = [{"sampler": name, **flatten_dict(row)} for name, row in {**rows, **references}.items()]

        with atomic_dir(args.out_dir) as tmp:
            write_json(tmp / "metrics.json", metrics)
            write_csv(tmp / "table.csv", table)
            (tmp / "samples").mkdir()
            # real digits beside the samples, drawn the same way (white on black, as MNIST)
            plots.sample_grid(test_x[:100].cpu(), tmp / "samples" / "mnist_test.png", "real MNIST test digits")
            for name, images in decoded.items():
                r = rows[name]
                plots.sample_grid(images.cpu(), tmp / "samples" / f"{name}.png",
                                  f"{name}: FD {r['fd']:.2f}, precision {r['precision']:.2f}, recall {r['recall']:.2f}")
            plots.sampler_comparison(rows, references, tmp / "comparison.png")

        run.log_metrics({**flatten_dict(metrics), "wall_seconds": time.perf_counter() - start})
        for name in ("metrics.json", "table.csv", "comparison.png", "samples"):
            run.log_artifact(args.out_dir / name, folder="samples" if name == "samples" else None)
        print(f"evaluate: IWAE NLL {metrics['iwae_nll']:.2f} nats (k={params.iwae_k}, {len(iwae)} images)")
        for name, row in {**rows, **references}.items():
            vr = row.get("vs_recon", {})
            print(f"  {name:15s} FD {row['fd']:8.3f}  precision {row['precision']:.3f}  recall {row['recall']:.3f}"
                  f"  coverage {row['coverage']:.3f}  | vs recon FD {vr.get('fd', float('nan')):7.3f}"
                  f"  recall {vr.get('recall', float('nan')):.3f}  | nn-train {row['nn_train_distance']:.2f}")


if __name__ == "__main__":
    run_stage("evaluate", main)
