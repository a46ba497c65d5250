"""The console's pages, one module per area (account, home, plugins, install, photos)."""
