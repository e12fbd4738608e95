"""The `invalidator` command."""

from __future__ import annotations

import sys

import click

from invalidator import __version__
from invalidator.cli.distributions import distribution
from invalidator.cli.edge import edge, edges
from invalidator.cli.invalidations import invalidate, invalidations
from invalidator.cli.keys import keys
from invalidator.cli.serve import serve
from invalidator.store.schema import StoreOpenError


@click.group()
@click.version_option(__version__)
def cli() -> None:
    """invalidator: a CloudFront-compatible cache invalidation service."""


cli.add_command(serve)
cli.add_command(distribution)
cli.add_command(invalidate)
cli.add_command(invalidations)
cli.add_command(keys)
cli.add_command(edge)
cli.add_command(edges)


def main() -> None:
    """Console-script entry point; a store that cannot be opened is one line, status 1."""
    try:
        cli()
    except StoreOpenError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
