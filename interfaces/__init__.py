"""Interfaces: the HTTP API, the web console, the `tilde-server` CLI and worker entry points."""
