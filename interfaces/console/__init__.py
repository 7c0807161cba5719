"""The web console: minimal server-rendered pages (sign in, approve commits, device login)."""
