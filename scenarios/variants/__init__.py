"""Negative controls: toys and clouds that break privacy rules on purpose.

A testbed is only as good as its ability to fail. Each variant here is the real program with
one deliberate fault; the scenarios that run them must detect the violation. Toy variants are
toy agents (`python -m scenarios.variants.<name>`); cloud variants run `teddy cloud` with a seam
(cloud/seam.py) that overrides one or two of its declared points, installed for the testbed.
"""

TOY_VARIANTS = {
    "leaky_audio": "scenarios.variants.leaky_toy_audio",
    "leaky_name": "scenarios.variants.leaky_toy_name",
    "pitch_leak": "scenarios.variants.pitch_leak_toy",
    # Independently written violators (scenarios/violators).
    "analytics": "scenarios.violators.toy_analytics",
    "shapes_slots": "scenarios.violators.toy_shapes_slots",
    "offline_queue": "scenarios.violators.toy_offline_queue",
    "cached_name": "scenarios.violators.toy_cached_name",
    "tls_hides_in_fields": "scenarios.violators.tls_toy_hides_in_fields",
    "unknown_as_topic": "scenarios.violators.toy_unknown_as_topic",
}
CLOUD_VARIANTS = {
    "flag_delete": "scenarios.variants.cloud_flag_delete",
    "keeps_data": "scenarios.variants.cloud_keeps_data",
    "revoke_keeps_data": "scenarios.variants.cloud_revoke_keeps_data",
    "logs_requests": "scenarios.variants.cloud_logs_requests",
    "trusts_toy_consent": "scenarios.variants.cloud_trusts_toy_consent",
    "keeps_credentials": "scenarios.variants.cloud_keeps_credentials",
    "keeps_key": "scenarios.variants.cloud_keeps_key",
    "plaintext_beside_sealed": "scenarios.variants.cloud_plaintext_beside_sealed",
    "forwards_intents": "scenarios.violators.cloud_forwards_intents",
    "side_database": "scenarios.violators.cloud_side_database",
    "retention_grace": "scenarios.violators.cloud_retention_grace",
    "card_check_always_passes": "scenarios.violators.cloud_card_check_always_passes",
    "consent_at_sent_time": "scenarios.violators.cloud_consent_at_sent_time",
    "policy_cache": "scenarios.violators.cloud_policy_cache",
    "history_shapes_replies": "scenarios.violators.cloud_history_shapes_replies",
    "verification_sandbox": "scenarios.violators.cloud_verification_sandbox",
    "export_omits_tables": "scenarios.violators.cloud_export_omits_tables",
}
