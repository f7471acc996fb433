"""Every random stream of fit_posterior, as an offset from posterior.seed: one table, so that no
two streams share a seed and no density is scored on the draws it was fitted to."""

Q_DRAWS = 0  # M draws from q; N(0, I)'s draws continue this stream; the MMD test's permutations
TEST_DRAWS = 1  # draws from the test codes' mixture, as many as test images: the held-out bound's draws
DENSITY_DRAWS = 2  # M draws from each fitted density (KL(g || q))
FIT = 3  # fitting: gmm's draws and EM's start, the networks' weights and training draws
VALIDATION = 4  # draws from the validation codes' mixture: they choose a density, its capacity and a flow's steps
PRIOR_DRAWS = 5  # a learned prior's M draws, and the average KL's draws under it
