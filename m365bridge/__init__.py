"""The Microsoft 365 bridge: everything Stratus knows about Microsoft.

`m365bridge` owns tenant connections (OAuth through MSAL, encrypted token caches,
verified domains), the bindings of users and groups to a tenant, the one Graph client
(`m365bridge.graph`), and the sync that makes Microsoft 365 equal to the directory
(`m365bridge.sync`). It subscribes to `directory.hooks`; the directory never imports it.
"""
