"""The one exception type users see: a one-line message that names the problem and the fix."""


class LmlabError(Exception):
    """A problem with the user's input or files; the CLI prints it as one line, no traceback."""
