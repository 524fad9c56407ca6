"""frugal's infrastructure: the stack's config, its Pulumi program, the offline plan and the cost model."""
