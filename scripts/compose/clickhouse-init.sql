-- The processed-windows tables the Data Storage service writes (era A and era B shapes).
CREATE DATABASE IF NOT EXISTS analytics;
CREATE TABLE IF NOT EXISTS analytics.processed_latency (
    window_start_time DateTime64(3, 'UTC'), window_end_time DateTime64(3, 'UTC'),
    window_duration_seconds Float64, cell_index Int32, network String,
    rsrp_mean Nullable(Float64), rsrp_max Nullable(Float64), rsrp_min Nullable(Float64), rsrp_std Nullable(Float64),
    sinr_mean Nullable(Float64), sinr_max Nullable(Float64), sinr_min Nullable(Float64), sinr_std Nullable(Float64),
    rsrq_mean Nullable(Float64), rsrq_max Nullable(Float64), rsrq_min Nullable(Float64), rsrq_std Nullable(Float64),
    latency_mean Nullable(Float64), latency_max Nullable(Float64), latency_min Nullable(Float64), latency_std Nullable(Float64),
    cqi_mean Nullable(Float64), cqi_max Nullable(Float64), cqi_min Nullable(Float64), cqi_std Nullable(Float64),
    sample_count Int32
) ENGINE = MergeTree ORDER BY (cell_index, window_start_time);
CREATE TABLE IF NOT EXISTS analytics.processed (
    window_start_time DateTime64(3, 'UTC'), window_end_time DateTime64(3, 'UTC'),
    window_duration_seconds Float64, cell_index Int32, network String, ip_src Nullable(String),
    metrics Map(String, Float64), sample_count Int32
) ENGINE = MergeTree ORDER BY (cell_index, window_start_time);
