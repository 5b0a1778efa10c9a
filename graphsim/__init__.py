"""graphsim: a local emulator of Entra ID sign-in and Microsoft Graph v1.0.

Standalone on purpose: it imports nothing from Stratus, so it can run as its own
process for the demo, the tests and the benchmarks. See README.md.
"""

__version__ = "0.1.0"
