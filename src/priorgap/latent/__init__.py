"""Step 4 (fit_posterior): the aggregate posterior q, every density fitted to it, the measures of q
against N(0,I), and their figures."""
