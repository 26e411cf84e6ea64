"""intake: supervised items, their decomposition into tasks, and events in from the OA."""
