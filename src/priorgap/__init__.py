"""priorgap: how far is a VAE's aggregate posterior from N(0,I), and does it matter?"""


# the library's modules import it from errors.py, so that none of them imports this file, which
# imports the instruments: it is the package's face to a user, above every floor of the library
from .errors import PriorgapError  # noqa: F401


def __getattr__(name: str):
    """priorgap.measure, priorgap.encode and priorgap.load_sampler (docs/measure-your-own-vae.md),
    imported on first use so that `import priorgap` stays light for the stages."""
    if name in ("measure", "load_sampler"):
        from .instruments import measure as module

        return getattr(module, name)
    if name == "encode":
        from .instruments.encoding import encode

        return encode
    raise AttributeError(f"module 'priorgap' has no attribute {name!r}")
