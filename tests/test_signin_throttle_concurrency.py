"""The sign-in throttle holds under simultaneous guesses at two app servers (issue 26, item 6).

Two real `teddy cloud serve` processes share one database (SQLite file or PostgreSQL); 40
wrong passwords for one account arrive at once, split between them. Before the fix 11 of 40
were checked against a limit of 5; now the count-and-check is one write transaction.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import requests
from cloud_helpers import add_parent
from parent_web_helpers import CSRF_META

from cloud.storage.db import open_db
from teddy.cloud_process import CloudProcess

pytestmark = pytest.mark.backends("sqlite", "postgresql")
GUESSES = 40
LIMIT = 5  # the configured default, login_attempts_per_15_min


def _ready_session(url: str) -> tuple[requests.Session, str]:
    session = requests.Session()
    page = session.get(url + "/parent/login", timeout=10).text
    match = CSRF_META.search(page)
    assert match, page[:500]
    return session, match.group(1)


@pytest.mark.slow("two real app servers and 40 argon2 checks")
def test_simultaneous_guesses_at_two_servers_meet_the_limit(tmp_path: Path,
                                                            cloud_db_path: str) -> None:
    db = open_db(cloud_db_path)
    add_parent(db, "target@example.org", time.time())
    db.close()
    # Entering the context starts each server (and leaving stops it).
    with CloudProcess(cloud_db_path, log_path=tmp_path / "a.log") as first, \
            CloudProcess(cloud_db_path, log_path=tmp_path / "b.log") as second:
        prepared = [(server.url, *_ready_session(server.url))
                    for n in range(GUESSES) for server in [(first, second)[n % 2]]]
        start = threading.Barrier(GUESSES)
        statuses: list[int] = []

        def guess(url: str, session: requests.Session, token: str) -> None:
            start.wait()
            answer = session.post(url + "/parent/login", timeout=60, allow_redirects=False,
                                  data={"csrf_token": token, "email": "target@example.org",
                                        "password": "wrong guess number nine"})
            statuses.append(answer.status_code)

        threads = [threading.Thread(target=guess, args=item) for item in prepared]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    assert sorted(set(statuses)) == [401, 429], statuses
    assert statuses.count(401) == LIMIT, statuses
