"""Identity: users, their emails and passwords, API keys, login sessions, device logins."""
