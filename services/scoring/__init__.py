"""scoring: rule-based assessment, the explainable point ledger, rankings and rates."""
