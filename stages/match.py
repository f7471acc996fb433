"""Stage match: data/codes -> data/match/{match.json, draws.pt}.

    python stages/match.py data/codes data/match [--params params.yaml]

Reads params: posterior.seed, n_samples, chunk_size, mmd. How far the aggregate posterior q of the
training codes is from the model's prior (data/codes/prior.npz: N(0, I) or a VampPrior): the
training mixture's KL both ways, the mutual information, q's moments, KS, MMD and holes
(priorgap.latent.diagnostics); and the draws every fit@<density> stage chooses and scores its
density on (validation and test codes' mixtures, q's own draws). fit_posterior gathers them.
"""
from priorgap.config import schema
from priorgap.tracking import stage_runs
from priorgap.config.cli import run_stage, stage_args
from priorgap.io.outputs import atomic_dir
from priorgap.latent import aggregate, fitting, priors


def main(argv=None):
    args = stage_args(__doc__.splitlines()[0], ["codes_dir"], ["out_dir"], argv)
    params = schema.load(args.params, "posterior")
    codes, val, test, components = (aggregate.Codes.load(args.codes_dir / f"{split}.npz")
                                    for split in ("train", "val", "test", "prior"))
    fitting.check_splits(args.codes_dir, codes, val, test, components)
    prior = priors.model_prior(components)

    declared = fitting.declared(params, fitting.MATCH_PARAMS)
    with stage_runs.stage_run("match", declared, args.params) as run:
        measured = fitting.measure_q(codes, val, test, prior, params)
        with atomic_dir(args.out_dir) as tmp:
            fitting.save_measured(measured, tmp)
        m = measured.match.metrics
        run.log_metrics({k: v for k, v in m.items() if isinstance(v, (int, float))} | {"seconds": measured.seconds})
        print(f"match: KL(q||p) {m['kl_q_prior']:.3f} ± {m['kl_q_prior_se']:.3f} (training mixture); mutual info "
              f"{m['mutual_info']:.3f}; active units {m['active_units']}/{codes.dim} ({measured.seconds:.0f} s)")


if __name__ == "__main__":
    run_stage("match", main)
