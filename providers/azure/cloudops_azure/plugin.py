"""Hook implementations of cloudops-azure (operations are added as they are built)."""
