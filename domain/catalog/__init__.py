"""The versioned catalog: repositories, sessions, staged changes and linear commit history."""
