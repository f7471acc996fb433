"""priorgap: how far is a VAE's aggregate posterior from N(0,I), and does it matter?"""


class PriorgapError(Exception):
    """A problem the user can fix (bad param, missing or corrupt file, unreachable server).

    Stage scripts print these as one line and exit non-zero; anything else is a bug and keeps
    its traceback.
    """


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
