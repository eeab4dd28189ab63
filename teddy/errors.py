"""The one error type every area raises for bad input that a user must fix.

`teddy` reports it as one line, "teddy <command>: <message>", with exit status 2. It imports
nothing, so the toy, the cloud and the command line can all share it.
"""


class InputError(ValueError):
    """Bad input (an option, a variable, a file) that changed nothing; the message says what
    to do."""
