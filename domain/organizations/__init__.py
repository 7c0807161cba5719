"""Organizations: members, invitations, groups, policies, roles and agents."""
