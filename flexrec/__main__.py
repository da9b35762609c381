"""`python -m flexrec` runs the CLI."""

from flexrec.cli import main

main()
