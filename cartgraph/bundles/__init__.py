"""cartgraph.bundles (see DESIGN.md)."""
