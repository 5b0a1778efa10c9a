"""The directory: the source of truth Stratus keeps for each customer.

`directory` owns organizations, their users (the auth model), security groups, the
organization's password policy, API keys and the encryption of secrets at rest. Every
write goes through `directory.services`; reads through `directory.selectors`. It knows
nothing of Microsoft: changes are announced through `directory.hooks`, which bridges
such as `m365bridge` subscribe to.
"""
