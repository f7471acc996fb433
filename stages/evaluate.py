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
from priorgap.samples import classifier, holes, plots
from priorgap.samples.quality import knn_radii, report, versus
from priorgap.samples.reference import read_real, reference_settings


def main(argv=None):
    args = stage_args(__doc__.splitlines()[0], ["mnist_dir", "vae_dir", "posterior_dir", "classifier_dir", "reference_dir"],
                      ["out_dir"], argv)
    params = config.load(args.params, "eval")
    device = pick_device(params.device, "eval.device")
    model = vae.load(args.vae_dir / "model.pt", device)
    clf = classifier.load(args.classifier_dir / "model.pt", device)
    samplers = {name: densities.load(args.posterior_dir / "densities" / f"{name}.pt") for name in densities.names()}
    # the density the validation codes chose (the held-out bound's): where q is, for the holes and
    # the ex-post likelihood
    chosen = read_metrics(args.posterior_dir / "metrics.json", "fit_posterior")["kl_lower_bound_density"]
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
            recon, test_mu = [], []
            for c in test_bin.split(4096):
                mu, logvar = model.encode(c)
                z = mu + torch.randn(mu.shape, generator=g, device=device) * torch.exp(0.5 * logvar)
                recon.append(torch.sigmoid(model.decode(z)))
                test_mu.append(mu)
            recon, test_mu = torch.cat(recon), torch.cat(test_mu)
            recon_scored = classifier.apply(clf, recon)
        recon_feats = recon_scored[0]
        recon_radii = knn_radii(recon_feats, params.k)

        def score(images, vs_recon=True, scored=None, own=None, members=None):
            """A sampler's row; `members` (a dict) receives each draw's ball membership, per reference."""
            feats, probs = scored or classifier.apply(clf, images)
            if own is None:  # the samples' own balls (recall), shared by both comparisons
                own = knn_radii(feats, params.k)
            keep = members is not None
            row = report(images, feats, probs, real_feats, real_radii, test_y, train_x, params.k, params.nn_samples, own, keep)
            if vs_recon:  # the same figures with the decoder held fixed
                vr = versus(feats, recon_feats, recon_radii, params.k, own, keep)
                if keep:
                    members["vs_recon"] = vr.pop("members")
                row["vs_recon"] = {k: v for k, v in vr.items() if k != "density"}
            if keep:
                members["real"] = row.pop("members")
            return row

        g_chosen, prior = samplers[chosen], samplers["prior"]

        def log_ratio(z):
            """r(z) = log g(z) - log p(z): how much rarer the codes are than the prior where z fell."""
            return g_chosen.log_prob(z) - prior.log_prob(z)

        def log_g(z):
            """g as iwae_bound's prior: z (k draws, images, d), on any device. A mixture of the codes
            (q itself) sums, for each image, over the components near its k draws only
            (Codes.log_prob_draws): over all 55,000 it was most of evaluate's time at latent size 2."""
            return g_chosen.log_prob_draws(z)

        draws, members, decoded, rows = {}, {}, {}, {}
        bar = tqdm(total=len(samplers) + 2, desc="evaluate", unit="step", file=sys.stderr)
        with torch.no_grad():
            for name, density in samplers.items():
                bar.set_postfix_str(name)
                z = density.sample(params.n_samples, params.seed).to(device)
                decoded[name] = torch.cat([torch.sigmoid(model.decode(c)) for c in z.split(4096)])  # Bernoulli means
                keep = {} if name in ("prior", chosen) else None
                rows[name] = score(decoded[name], members=keep)
                if keep is not None:
                    draws[name], members[name] = z.cpu(), keep
                bar.update()
            bar.set_postfix_str("references")
            # references: two independent draws of real digits (the floor), and the reconstructions
            references = {"floor": floor, "reconstruction": score(recon, vs_recon=False, scored=recon_scored, own=recon_radii)}
            bar.update()
            bar.set_postfix_str("IWAE bound")
            # the ex-post model (the decoder fixed, g as its prior) on the same draws: a paired difference
            iwae, iwae_expost = vae.iwae_bound(model, test_bin[: params.iwae_images], params.iwae_k,
                                               torch.Generator(device=device).manual_seed(params.seed), priors=[log_g])
            bar.update()
        bar.close()
        ratio = {name: log_ratio(z) for name, z in draws.items()}
        by_sampler = {"prior": "prior", "fitted": chosen}
        metrics = {
            "iwae_nll": -iwae.mean().item(),
            "iwae_nll_se": (iwae.std() / len(iwae) ** 0.5).item(),
            "iwae_nll_expost": -iwae_expost.mean().item(),
            "iwae_nll_expost_se": (iwae_expost.std() / len(iwae_expost) ** 0.5).item(),
            # paired: the same images, draws and decodes under both priors
            "iwae_expost_gain_se": ((iwae_expost - iwae).std() / len(iwae) ** 0.5).item(),
            "holes": {"density": chosen, **{k: holes.summary(ratio[s], members[s]) for k, s in by_sampler.items()}},
            **rows,
            **references,
        }
        hole_rows = [{"sampler": k, **row} for k, s in by_sampler.items() for row in holes.profile(ratio[s], members[s])]
        table = [{"sampler": name, **flatten_dict(row)} for name, row in {**rows, **references}.items()]

        with atomic_dir(args.out_dir) as tmp:
            write_json(tmp / "metrics.json", metrics)
            write_csv(tmp / "table.csv", table)
            write_csv(tmp / "holes.csv", hole_rows)
            plots.hole_profile(hole_rows, chosen, tmp / "holes.png")
            order = ratio["prior"].argsort()
            plots.hole_draws(decoded["prior"][order[:50].to(device)].cpu(), decoded["prior"][order[-50:].to(device)].cpu(),
                             ratio["prior"][order[:50]], ratio["prior"][order[-50:]], chosen, tmp / "hole_draws.png")
            plots.thread_picture(test_mu.cpu(), test_labels, g_chosen, prior, chosen,
                                 {**{n: decoded[n].cpu() for n in decoded}, "reconstruction": recon.cpu()}, tmp / "thread.png")
            (tmp / "samples").mkdir()
            # real digits beside the samples, drawn the same way (white on black, as MNIST)
            plots.sample_grid(test_x[:100].cpu(), tmp / "samples" / "mnist_test.png", "real MNIST test digits")
            for name, images in decoded.items():
                r = rows[name]
                plots.sample_grid(images.cpu(), tmp / "samples" / f"{name}.png",
                                  f"{name}: FD {r['fd']:.2f}, precision {r['precision']:.2f}, recall {r['recall']:.2f}")
            plots.save_grids({"reconstruction": recon.cpu(), **{n: decoded[n].cpu() for n in decoded}},
                             tmp / "samples" / "grids.npz")
            plots.sampler_comparison(rows, references, tmp / "comparison.png")

        run.log_metrics({k: v for k, v in flatten_dict(metrics).items() if not isinstance(v, str)}
                        | {"wall_seconds": time.perf_counter() - start})
        for name in ("metrics.json", "table.csv", "holes.csv", "comparison.png", "holes.png", "hole_draws.png", "thread.png",
                     "samples"):
            run.log_artifact(args.out_dir / name, folder="samples" if name == "samples" else None)
        h = {k: float("nan") if v is None else v for k, v in metrics["holes"]["prior"].items()}
        print(f"evaluate: IWAE NLL {metrics['iwae_nll']:.2f} nats, ex post ({chosen} as the prior) "
              f"{metrics['iwae_nll_expost']:.2f} (k={params.iwae_k}, {len(iwae)} images); prior draws in holes "
              f"{h['share']:.3f}, precision there {h['precision_real_in']:.3f} against {h['precision_real_out']:.3f}")
        for name, row in {**rows, **references}.items():
            vr = row.get("vs_recon", {})
            print(f"  {name:15s} FD {row['fd']:8.3f}  precision {row['precision']:.3f}  recall {row['recall']:.3f}"
                  f"  coverage {row['coverage']:.3f}  | vs recon FD {vr.get('fd', float('nan')):7.3f}"
                  f"  recall {vr.get('recall', float('nan')):.3f}  | nn-train {row['nn_train_distance']:.2f}")


if __name__ == "__main__":
    run_stage("evaluate", main)
