"""The privacy gate: the toy's only path to the network, default deny, with an egress ledger."""
