"""The population bound against an off-the-shelf reviewer's check: scikit-learn's GaussianMixture.

    python benchmarks/bound_vs_sklearn.py [--codes data/codes] [--posterior data/posterior] [--components 10 30 100]

Fits sklearn.mixture.GaussianMixture (full covariance) to two z ~ Q(z|x) per training image,
restricted to the active units (Var(mu) > 0.01), with N(0, 1) on the others, and prints its
held-out gain over N(0, I) on the same test draws fit_posterior scores (one z ~ Q(z|x_test) per
image, posterior.seed + 1), next to the bound in data/posterior/metrics.json. Nothing here is
shared with the stage's EM (latent/em.py) but the codes and the active-unit rule: it is the
independent check the bound must match or beat: at latent size 50 the stage's bound must be at
least the best of these.
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

from priorgap.config import schema
from priorgap.latent import densities  # noqa: F401  (every density's params section, for the config)
from priorgap.latent.aggregate import ACTIVE_THRESHOLD, Codes


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--codes", type=Path, default=ROOT / "data/codes")
    ap.add_argument("--posterior", type=Path, default=ROOT / "data/posterior")
    ap.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    ap.add_argument("--components", type=int, nargs="+", default=[10, 30, 100])
    args = ap.parse_args()
    from scipy import stats
    from sklearn.mixture import GaussianMixture

    seed = schema.load(args.params, "posterior").seed
    train, test = Codes.load(args.codes / "train.npz"), Codes.load(args.codes / "test.npz")
    active = np.var(train.mu.double().numpy(), axis=0) > ACTIVE_THRESHOLD
    rng = np.random.default_rng(0)
    mu, sd = train.mu.double().numpy(), np.exp(0.5 * train.logvar.double().numpy())
    draws = np.concatenate([mu + sd * rng.standard_normal(mu.shape) for _ in range(2)])[:, active]
    z = test.sample(len(test.mu), seed + 1).double().numpy()  # fit_posterior's test draws
    log_p = stats.norm.logpdf(z).sum(1)
    rest = stats.norm.logpdf(z[:, ~active]).sum(1)  # N(0, 1) on the inactive units
    print(f"{active.sum()} of {len(active)} units active; {len(draws)} training draws; {len(z)} test draws")
    for k in args.components:
        start = time.perf_counter()
        gm = GaussianMixture(k, covariance_type="full", random_state=0, reg_covar=1e-6).fit(draws)
        gain = gm.score_samples(z[:, active]) + rest - log_p
        print(f"  sklearn GaussianMixture {k:4d} components: held-out gain {gain.mean():.3f} ± "
              f"{gain.std() / np.sqrt(len(gain)):.3f}  ({time.perf_counter() - start:.0f} s)")
    m = json.loads((args.posterior / "metrics.json").read_text())
    print(f"  fit_posterior's bound: {m['kl_q_prior_lower_bound']:.3f} ± {m['kl_q_prior_lower_bound_se']:.3f} "
          f"({m['kl_q_prior_lower_bound_density']}, saturated: {m['bound_saturated']})")


if __name__ == "__main__":
    main()
