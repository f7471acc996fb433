"""The one error type a user can act on."""


class PriorgapError(Exception):
    """A problem the user can fix (bad param, missing or corrupt file, unreachable server).

    Stage scripts print these as one line and exit non-zero; anything else is a bug and keeps
    its traceback.
    """


class ParamError(PriorgapError):
    """A param's value the library cannot use, named by its dotted key. The library does not know
    which file the param came from; the stage that read it does, and prefixes it (config/cli.py)."""

    def __init__(self, key: str, problem: str):
        super().__init__(f"{key} {problem}")
        self.key = key
