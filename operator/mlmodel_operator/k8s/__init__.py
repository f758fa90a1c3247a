"""The only module that talks to the API server: reads, one apply helper, status patches."""
