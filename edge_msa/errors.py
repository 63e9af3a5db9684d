"""One exception type for every mistake a user can make (bad path, bad recipe, bad shapes).

The CLI turns it into a one-line message and exit code 2; library callers can catch it.
"""


class UserError(Exception):
    """Bad input from the user: reported as one line, never as a traceback."""


def first_line(e: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none): for one-line errors."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
