"""The scanner's checks, one module per concern."""
