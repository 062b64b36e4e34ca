"""cloudops-deploy: provider-agnostic deploy strategies composed from server-group operations."""
