from telemetry.sources import feature_fields


def test_metadata_samples_and_flags_are_not_fields():
    columns = ["window_start_time", "cell_index", "sample_count", "rsrp_mean", "rsrp_samples", "is_empty_window",
               "sinr_max", "rsrp_mean"]
    excluded = ["window_start_time", "cell_index", "sample_count", "is_empty_window"]
    assert feature_fields(columns, excluded) == ["rsrp_mean", "sinr_max"]
