"""Hook implementations of cloudops-gcp (operations are added as they are built)."""
