"""``python -m maskbench`` runs the command line."""

from maskbench.cli import main

main()
