"""The public GraphQL API (API.md): types, thin resolvers that call the application."""
