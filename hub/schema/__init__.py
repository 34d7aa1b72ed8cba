"""The public GraphQL API (published as `schema.graphql`): types, and thin resolvers that
call the application."""
