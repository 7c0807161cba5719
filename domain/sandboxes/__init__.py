"""The sandboxes context: a container run on a repository's tree, committed on success."""
