"""priorgap: how far is a VAE's aggregate posterior from N(0,I), and does it matter?"""


class PriorgapError(Exception):
    """A problem the user can fix (bad param, missing or corrupt file, unreachable server).

    Stage scripts print these as one line and exit non-zero; anything else is a bug and keeps
    its traceback.
    """
