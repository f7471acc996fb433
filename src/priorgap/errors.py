"""The one error type a user can act on."""


class PriorgapError(Exception):
    """A problem the user can fix (bad param, missing or corrupt file, unreachable server).

    Stage scripts print these as one line and exit non-zero; anything else is a bug and keeps
    its traceback.
    """
