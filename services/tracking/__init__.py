"""tracking: the task lifecycle, deadlines, reminders, warnings, review and extensions."""
