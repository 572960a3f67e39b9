"""The one exception base the command line knows how to report.

Errors an operator can fix (a bad CSV row, a refused domain pattern, a
corrupt database file) derive from :class:`OperatorError`. The CLI prints
their message without a traceback and exits 1; anything else is a bug and
keeps its traceback.
"""


class OperatorError(Exception):
    """An error whose message tells the operator what went wrong and what to do."""
