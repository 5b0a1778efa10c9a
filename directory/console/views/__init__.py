"""Console views, one module per section. Each view is wrapped in
`directory.console.access.console_view`, reads through selectors and writes through
services only."""
