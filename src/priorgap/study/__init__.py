"""Step summarize and what spans experiments: the headline row, reading the runs back, the
statistics and claims, the report and its figures."""
