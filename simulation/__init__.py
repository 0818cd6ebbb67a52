"""A simulated marketplace that drives the real engine: borrowers, institutions with
hidden approval policies, and the loop that sends them through lendmatch's services.
Usable from tests and benchmarks."""
