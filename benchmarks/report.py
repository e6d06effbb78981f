"""What the benchmarks print: a Markdown table that pastes straight into the README."""

from __future__ import annotations


def print_table(title: str, results: list[tuple[str, str]]) -> None:
    """Print `title`, then one `| measurement | result |` row per (name, value)."""
    width = max(len(name) for name, _ in results)
    print(f"\n{title}\n| measurement | result |\n| --- | --- |")
    for name, value in results:
        print(f"| {name.ljust(width)} | {value} |")
