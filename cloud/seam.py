"""The cloud's testbed seam: the declared points where a negative control may act differently.

How seams work, and why one cannot be switched on by accident: teddy/contracts/seam.py. The
cloud marks the function behind each point with `@seam_point("name")`; a broken cloud is a
subclass overriding the points it needs, run by scenarios/variants/cloud_wrapper.py:

    class KeepsEverything(CloudSeam):
        def purge_expired(self, honest, db, now, **options):
            return PurgeReport(now=now)  # the lie: "purged"

    install(KeepsEverything(), testbed=True)

Each point below names the function behind it and the rules a change there can break.
"""

from __future__ import annotations

from typing import Any

from teddy.contracts.seam import Honest, Seam, SeamError

__all__ = ["CloudSeam", "Honest", "SeamError", "install", "installed", "refuse_outside_testbed",
           "seam_point", "uninstall"]


class CloudSeam(Seam):
    """The honest cloud. Subclasses override the points a negative control changes."""

    side = "cloud"

    # -- consent -----------------------------------------------------------------------
    def current_policy(self, honest: Honest, *args: Any, **kwargs: Any) -> Any:
        """cloud.consent.current_policy(db, child_id, notice_version) -> (version, purposes):
        what the parent consented to, read on every device request (R07, R31)."""
        return honest(*args, **kwargs)

    def revoke(self, honest: Honest, *args: Any, **kwargs: Any) -> Any:
        """cloud.consent.revoke(db, *, child_id, parent_id, purpose, now) -> bool: a parent
        turns a purpose off (R12)."""
        return honest(*args, **kwargs)

    def policy_for_message(self, honest: Honest, *args: Any, **kwargs: Any) -> Any:
        """cloud.device_api.routes._policy_for_message(db, child_id, message) -> {"version",
        "purposes"}: the consent an intent message is judged by, the one in force as it
        arrives, whatever the toy says about when it was composed (R12, R31)."""
        return honest(*args, **kwargs)

    # -- the parent's verification -----------------------------------------------------
    def card_number_valid(self, honest: Honest, *args: Any, **kwargs: Any) -> Any:
        """cloud.parent_web.verification.luhn_valid(digits) -> bool: the card check of the
        parent's verification (R08)."""
        return honest(*args, **kwargs)

    def verification_outcome(self, honest: Honest, *args: Any, **kwargs: Any) -> Any:
        """cloud.parent_web.consent_pages._instant_check(method) -> Outcome, or raises
        VerificationFailed: the check of an instant method (card, questions, photo ID, face
        match, signed form) on the submitted form (R08)."""
        return honest(*args, **kwargs)

    def challenge_code_matches(self, honest: Honest, *args: Any, **kwargs: Any) -> Any:
        """cloud.parent_web.challenges.code_matches(secret, stored_digest) -> bool: the code
        or link the parent got by text, call or e-mail, compared with the one sent (R08)."""
        return honest(*args, **kwargs)

    # -- the device API ----------------------------------------------------------------
    def verify_signature(self, honest: Honest, *args: Any, **kwargs: Any) -> Any:
        """cloud.device_api.auth.verify_signature(db, request, now) -> AuthenticatedDevice:
        which toy signed a request, or AuthError (R28, R33)."""
        return honest(*args, **kwargs)

    def max_clock_skew_s(self, honest: Honest, *args: Any, **kwargs: Any) -> Any:
        """cloud.device_api.auth.max_clock_skew_s() -> seconds: how far a signed request's
        timestamp may be from the cloud's clock (R28)."""
        return honest(*args, **kwargs)

    def compose_reply(self, honest: Honest, *args: Any, **kwargs: Any) -> Any:
        """cloud.device_api.routes._reply_text(message, slots, profile) -> str: the reply
        composed for an intent, shaped only by the profile personalisation allows; the
        answer reports itself personalised when that profile is not empty (R23, R29)."""
        return honest(*args, **kwargs)

    def on_request(self, request: Any) -> None:
        """Called before every request the app serves, with Flask's request; the honest cloud
        does nothing here (a hidden log or side channel would: R10, R30)."""

    # -- the parent's rights ------------------------------------------------------------
    def export_document(self, honest: Honest, *args: Any, **kwargs: Any) -> Any:
        """cloud.child_data.export_document(db, child_id, *, now, notice_version, ...) ->
        document: the parent's download, every format built from it; it must hold every
        value kept about the child (R22)."""
        return honest(*args, **kwargs)

    # -- keeping and sealing -----------------------------------------------------------
    def connect(self, honest: Honest, *args: Any, **kwargs: Any) -> Any:
        """cloud.storage.db.connect(db_path, ...) -> Database: every connection the cloud
        opens, set up as erasure needs it (secure_delete on SQLite: R19)."""
        return honest(*args, **kwargs)

    def seal_value(self, honest: Honest, *args: Any, **kwargs: Any) -> Any:
        """cloud.keys.fields.seal_value(db, child_id, table, column, value, now) -> sealed:
        a child value sealed with the child's key before it is stored (R19)."""
        return honest(*args, **kwargs)

    def destroy_child_key(self, honest: Honest, *args: Any, **kwargs: Any) -> Any:
        """cloud.keys.store.KeyStore.destroy(store, child_id, now) -> bool: the child's key
        destroyed at erasure (R18, R19)."""
        return honest(*args, **kwargs)

    # -- erasure, revocation and retention ---------------------------------------------
    def request_erasure(self, honest: Honest, *args: Any, **kwargs: Any) -> Any:
        """cloud.retention.erasure.request_erasure(db, *, child_id, ...) -> ErasureJob: the
        parent pages' deletion of a child (R18, R19)."""
        return honest(*args, **kwargs)

    def erase_child(self, honest: Honest, *args: Any, **kwargs: Any) -> Any:
        """cloud.retention.erasure.erase_child(db, *, child_id, ...) -> ErasureReceipt: a
        child removed from every table, backup and WAL frame (R18, R19)."""
        return honest(*args, **kwargs)

    def erase_item(self, honest: Honest, *args: Any, **kwargs: Any) -> Any:
        """cloud.retention.erasure.erase_item(db, *, child_id, parent_id, table, row_id, now)
        -> bool: one row a parent deletes from the dashboard (R18)."""
        return honest(*args, **kwargs)

    def erase_kept_for(self, honest: Honest, *args: Any, **kwargs: Any) -> Any:
        """cloud.retention.revocation.erase_kept_for(db, *, child_id, purpose) -> counts:
        what was kept only for a purpose the parent turned off (R12, R29)."""
        return honest(*args, **kwargs)

    def strip_history_slots(self, honest: Honest, *args: Any, **kwargs: Any) -> Any:
        """cloud.retention.revocation._strip_slots(db, table, child_id, purpose) -> rows:
        a revoked purpose's slots taken out of rows that stay (R12, R29)."""
        return honest(*args, **kwargs)

    def purge_expired(self, honest: Honest, *args: Any, **kwargs: Any) -> Any:
        """cloud.retention.purge.purge_expired(db, now, ...) -> PurgeReport: the retention
        purge `teddy cloud purge` runs (R16, R21)."""
        return honest(*args, **kwargs)

    def delete_expired(self, honest: Honest, *args: Any, **kwargs: Any) -> Any:
        """cloud.retention.purge.delete_expired(db, now, ...) -> (counts, vacuumed): the
        expiry rules, also run inside other transactions (R16)."""
        return honest(*args, **kwargs)

    def checkpoint_truncate(self, honest: Honest, *args: Any, **kwargs: Any) -> Any:
        """cloud.retention.checkpoint.checkpoint_truncate(db, ...) -> CheckpointResult: the
        erasure's WAL checkpoint, so old frames stop holding erased values (R19)."""
        return honest(*args, **kwargs)

    def background_checkpoint(self, honest: Honest, *args: Any, **kwargs: Any) -> Any:
        """cloud.storage.checkpointer._checkpoint(db, path): the server's periodic WAL
        checkpoint (R19)."""
        return honest(*args, **kwargs)


install = CloudSeam.install
uninstall = CloudSeam.uninstall
installed = CloudSeam.installed
refuse_outside_testbed = CloudSeam.refuse_outside_testbed
seam_point = CloudSeam.point
