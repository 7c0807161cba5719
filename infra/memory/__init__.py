"""In-process adapters for the embedded mode and unit tests."""
