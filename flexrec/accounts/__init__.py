"""Console accounts: users and their password hashes, audited account changes, server-side
sessions and who is signed in (`Principal`). No web framework: the console signs people in,
the admin API and the CLI manage accounts, all through these."""
