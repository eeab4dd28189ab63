"""Violators: toys and clouds written to break a rule the way a real product might, without
looking at which check would notice (issue 25's violation classes). Each is a negative control
beside scenarios/variants/; the stories that run them are scenarios/catalogue/8*.yaml, and the
report's per-story verdict is the detection per class. The collector they send to is a UDP
port on loopback that nobody listens on: the bytes still leave the process, which is what the
egress observer records.
"""

COLLECTOR = ("127.0.0.1", 8125)
