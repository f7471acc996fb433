"""Stage encode: data/mnist + data/vae/model.pt -> data/codes/{train,val,test,prior}.npz.

    python stages/encode.py data/mnist data/vae data/codes [--params params.yaml]

Reads no params. Each file holds `mu` and `logvar` (float32, N x latent_dim) of Q(z|x) and the
digit `labels` (format: priorgap.data.files). The training split's codes define the aggregate
posterior; fit_posterior chooses its densities on the validation codes and reports them on the
test codes. The encoder sees each image as the ELBO does: one fixed seeded binarisation (the
model was trained on binary digits, and grey levels are inputs it never saw), so the mean KL of
the test codes is the test KL term that train reports. Encoding runs on the CPU (a second of
work), which keeps the codes identical whichever machine trained the model.

prior.npz is the model's own prior in the same format, the mixture (1/K) sum_k N(mu_k, diag
exp(logvar_k)): one component at 0 with unit variance for N(0, I), the encoder at its K
pseudo-inputs for a VampPrior (labels -1). Every later figure is measured against it.
"""


import numpy as np

from priorgap.tracking import stage_runs
from priorgap.config.cli import run_stage, stage_args
from priorgap.config.device import to_tensor
from priorgap.io.outputs import atomic_dir
from priorgap.data.files import read_split, write_codes
from priorgap.model import training, vae


def main(argv=None):
    args = stage_args(__doc__.splitlines()[0], ["mnist_dir", "vae_dir"], ["out_dir"], argv)
    model = vae.load(args.vae_dir / "model.pt")
    splits = {split: read_split(args.mnist_dir, split) for split in ("train", "val", "test")}

    with stage_runs.stage_run("encode", {}, args.params) as run:
        with atomic_dir(args.out_dir) as tmp:
            for split, (images, labels) in splits.items():
                x = training.fixed_binarization(to_tensor(images, "cpu"))
                write_codes(tmp / f"{split}.npz", *training.encode(model, x), labels)
            write_codes(
                tmp / "prior.npz", *training.prior_components(model), np.full(max(1, model.cfg.prior_components), -1)
            )
        sizes = {f"n_{split}": len(labels) for split, (_, labels) in splits.items()}
        run.log_metrics(sizes)
        prior = "N(0, I)" if model.vamp is None else f"a VampPrior of {model.cfg.prior_components} pseudo-inputs"
        print(
            f"encode: {sizes['n_train']} training, {sizes['n_val']} validation and {sizes['n_test']} test codes "
            "of dimension "
            f"{model.cfg.latent_dim}; prior {prior}"
        )


if __name__ == "__main__":
    run_stage("encode", main)
