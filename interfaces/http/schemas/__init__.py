"""Wire models named after the spec's schemas."""
