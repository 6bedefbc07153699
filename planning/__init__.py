"""Planning: staffing, service time, overrides, the publication and its report (pure)."""
