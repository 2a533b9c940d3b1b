"""cartgraph.text (see DESIGN.md)."""
