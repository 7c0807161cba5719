"""The secrets context: repository and agent secrets, encrypted at rest."""
