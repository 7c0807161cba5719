"""Catalog read models: the temporal entries table and its companions (inline, never lag),
and the repositories listing."""
