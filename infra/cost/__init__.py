"""The cost preview: prices a plan (offline run, `pulumi preview --json` or `pulumi stack export`).

Pure: nothing in this package imports Pulumi. `estimate.estimate_plan(plan)` turns a `Plan` into a
`Report`; `render` prints it; `diff` compares two reports; `refresh` rebuilds the EC2 catalog.
"""
