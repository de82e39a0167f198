"""Everything that talks to GitHub: the REST/GraphQL client, PR comments, releases, and the Actions runner."""
