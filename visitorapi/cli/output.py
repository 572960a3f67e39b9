"""Terminal output shared by the command groups (not a command group itself)."""


def print_table(rows) -> None:
    """Print rows as left-aligned columns separated by two spaces; the first row is the header."""
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())
