"""One exception type for every mistake a user can make (bad path, bad recipe, bad shapes).

The CLI turns it into a one-line message and exit code 2; library callers can catch it.
"""


class UserError(Exception):
    """Bad input from the user: reported as one line, never as a traceback."""
