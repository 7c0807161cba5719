"""Imports: jobs that bring objects in from a connector's bucket or another repository."""
