"""The study's analysis: the statistics (stats.py, compare.py) and one module per claim of the
thread (depth, width, latent_size, prior_sampling, learned_prior), gathered into the answer table (answer.py)."""
