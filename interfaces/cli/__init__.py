"""The `tilde-server` command line."""
