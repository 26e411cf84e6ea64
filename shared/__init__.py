"""Contracts and plumbing shared by Duban's services. No business rules live here."""
