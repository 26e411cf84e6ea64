"""The `duban` command: run the whole system, one service, or move the simulated clock."""
