"""Process plumbing shared by every entry point: settings, the Temporal connection, binaries."""
