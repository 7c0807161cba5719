"""The connectors application: connectors, their repository attachments and their sources."""

from application.connectors.app import ConnectorsApplication

__all__ = ["ConnectorsApplication"]
