"""cartgraph.graph (see DESIGN.md)."""
