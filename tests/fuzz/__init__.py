"""Property-based fuzzing of every webhook route through the API Gateway v2 event path."""
