"""Read models: one module per view (tables + queries + projector)."""
