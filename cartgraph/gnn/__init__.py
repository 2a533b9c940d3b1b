"""cartgraph.gnn (see DESIGN.md)."""
