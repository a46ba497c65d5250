"""The browser side: the interactive API docs, served entirely from this package."""
