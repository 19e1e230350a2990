"""Reading what ``python -m export`` wrote to stderr: its progress lines apart from its messages."""

import re

PROGRESS_LINE = re.compile(r"^\[\s*\d+s\] ")  # export.progress's "[   12s] building …"


def messages(err: str) -> list[str]:
    """The lines of ``err`` that are not progress: an error is exactly one of them."""
    return [line for line in err.strip().splitlines() if not PROGRESS_LINE.match(line)]
