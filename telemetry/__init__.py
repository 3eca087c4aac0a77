"""Where per-cell KPI windows come from: the bundled dataset, the Data Storage API, ClickHouse."""
