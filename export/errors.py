"""The one exception the export tools raise for a user's mistake or a failed export."""


class ExportError(Exception):
    """A problem the user can fix, explained in one line (the CLI prints it and exits 2)."""
