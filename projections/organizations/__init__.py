"""Organization read models: organizations and members, invitations, groups, policies,
roles and agents, the audit log, and the authorization source built on them."""
