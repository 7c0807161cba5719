"""The imports context: import jobs (request, status) and the worker that performs them."""

from application.imports.app import ImportsApplication
from application.imports.process import ImportProcess
from application.imports.runner import ImportRunner

__all__ = ["ImportProcess", "ImportRunner", "ImportsApplication"]
