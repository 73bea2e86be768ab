"""``python -m countyos`` runs the CLI."""

from countyos.cli import main

main()
