"""Every density fitted to q: one module per density, each registering itself as it is imported,
in the order of the line below (the order the stages list them and the headline shows them: q
itself first, which the others import). A new density is one more name on it
(docs/adding-a-density.md).

The line is alone in its file so that adding a density changes no file the other densities' fits
depend on: a fit@<density> stage leaves this module out of its deps, as it leaves out the other
densities' modules (priorgap.reproducibility.stage_deps), and refits only when its own code changes.
"""
from . import aggregate, gaussian, gmm, flow, two_stage, widened, tempered  # noqa: F401, I001
