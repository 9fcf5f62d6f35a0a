"""Pass or fail against what was recorded: thresholds, prediction snapshots, comparisons, significance."""
