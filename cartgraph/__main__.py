"""``python -m cartgraph`` runs the CLI."""
import sys

from cartgraph.cli.main import main

sys.exit(main())
