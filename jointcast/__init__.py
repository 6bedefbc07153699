"""jointcast."""
