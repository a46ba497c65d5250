"""Plugin SDK: what plugin code imports inside the sandbox."""
