"""`python -m guetteur` runs the CLI."""

from guetteur.cli import main

main()
