"""ParentClient, which the demo and the scenario runner use, against a real cloud process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scenarios.parent_client import ParentClient, ParentWebError
from teddy.cloud_process import CloudProcess


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudProcess]:
    with CloudProcess(Path(tmp_path_factory.mktemp("cloud")) / "cloud.db") as process:
        yield process


def test_parent_client_drives_the_real_forms(cloud: CloudProcess) -> None:
    parent = ParentClient(cloud.url, mail_db=str(cloud.db_path))
    parent.signup("client@example.org", "correct horse battery staple")
    child_id = parent.add_child("Noor", "9-12", "FR")
    outcome = parent.verify_and_consent(child_id, "email", ["core", "history"])
    assert outcome.purposes_on == ["core", "history"]
    assert any("confirmation tomorrow" in m for m in outcome.messages)
    with pytest.raises(ParentWebError) as refused:
        parent.verify_and_consent(child_id, "text", ["core", "history", "third_party"])
    assert refused.value.status == 400 and "sharing with partners" in refused.value.message
    outcome = parent.verify_and_consent(child_id, "kba", ["core", "history", "personalisation"])
    assert outcome.purposes_on == ["core", "history", "personalisation"]
    assert parent.revoke(child_id, "history").states["history"] == "off"
    code = parent.pairing_code(child_id)
    assert len(code) == 9 and code[4] == "-"
    board = parent.dashboard(child_id)
    assert "Noor" in board.values("children")
    assert {i.category for i in board.items if i.table == "children"} >= {"child.name"}
    document = parent.export(child_id)
    assert document["format"] == "teddy-child-export/1" and document["child_id"] == child_id
    pending = [r for r in document["records"] if r["table"] == "pairing_codes"]
    assert pending and pending[0]["values"][0]["value"] == code

    other = ParentClient(cloud.url, mail_db=str(cloud.db_path))
    other.signup("other@example.org", "another long passphrase")
    with pytest.raises(ParentWebError) as hidden:
        other.dashboard(child_id)
    assert hidden.value.status == 404

    receipt = parent.delete_all(child_id)
    assert receipt["receipt_id"].startswith("erasure-") and receipt["total_rows"] > 0
    assert "Noor" not in str(receipt)
    with pytest.raises(ParentWebError):
        parent.dashboard(child_id)
    parent.logout()
    with pytest.raises(ParentWebError):
        parent.login("client@example.org", "wrong password here")
    parent.login("client@example.org", "correct horse battery staple")
