"""ParentClient: a parent at a browser, as a small Python class over `requests.Session`.

It drives the real parent pages and forms (with their CSRF tokens), never a private API, so
whatever it can do a parent can do with a browser, and whatever the pages refuse it is refused
too. The demo, the scenario runner and the tests use it; the method names and return types
below are kept stable.

    parent = ParentClient("http://127.0.0.1:8080", mail_db="teddy-cloud.db")
    parent.signup("pat@example.org", "correct horse battery staple")   # also signs in
    child_id = parent.add_child("", "6-8", "US")
    parent.verify_and_consent(child_id, "card", ["core", "personalisation"],
                              card_number="4242 4242 4242 4242")
    code = parent.pairing_code(child_id)                  # for the toy's POST /api/v1/pair
    items = parent.dashboard(child_id).items              # every value held, parsed
    document = parent.export(child_id)                    # the JSON export
    receipt = parent.delete_all(child_id)                 # the erasure receipt

Verification methods (R08): payment_card ("card"), knowledge_questions ("kba"),
government_id ("id"), face_match, signed_form, video_call ("call"), email_plus ("email"),
text_plus ("text"). Every method has test-mode defaults for its fields (the documented test
card expiry and code, the test identity's answers, generated images and a PDF); pass fields to
override them. A refusal raises ParentWebError with the page's own message.
"""

from __future__ import annotations

import json
import random
import re
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlparse

import requests

from cloud.parent_web.verification import TEST_IDENTITY_ANSWERS

# A parent's "Delete everything" page is re-read this long while the cloud finishes erasing.
ERASURE_WAIT_S = 60.0
METHOD_ALIASES = {"card": "payment_card", "kba": "knowledge_questions", "id": "government_id",
                  "call": "video_call", "email": "email_plus", "text": "text_plus"}
VOID_TAGS = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
                       "meta", "source", "track", "wbr"})


class ParentWebError(RuntimeError):
    """A page refused the request; `status` is the HTTP status, the message the page's."""

    def __init__(self, status: int, message: str, url: str) -> None:
        super().__init__(f"{status} at {url}: {message}")
        self.status = status
        self.message = message
        self.url = url


@dataclass
class _Node:
    tag: str
    attrs: dict[str, str]
    index: int
    text: list[str] = field(default_factory=list)

    @property
    def content(self) -> str:
        return " ".join("".join(self.text).split())


class _Page(HTMLParser):
    """Every element with its attributes and the text inside it; enough to read our pages."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.nodes: list[_Node] = []
        self._open: list[_Node] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = _Node(tag, {k: v or "" for k, v in attrs}, len(self.nodes))
        self.nodes.append(node)
        if tag not in VOID_TAGS:
            self._open.append(node)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index].tag == tag:
                del self._open[index:]
                return

    def handle_data(self, data: str) -> None:
        for node in self._open:
            node.text.append(data)

    def next_after(self, node: _Node, tag: str, css_class: str) -> _Node:
        index = node.index + 1
        while not (self.nodes[index].tag == tag
                   and self.nodes[index].attrs.get("class") == css_class):
            index += 1
        return self.nodes[index]

    def find(self, tag: str | None = None, **attrs: str) -> list[_Node]:
        wanted = {k.replace("_", "-"): v for k, v in attrs.items()}
        return [n for n in self.nodes if (tag is None or n.tag == tag)
                and all(n.attrs.get(k) == v if v != "*" else k in n.attrs
                        for k, v in wanted.items())]


@dataclass(frozen=True)
class HeldItem:
    table: str
    row_id: str
    field: str
    value: str
    category: str
    purpose: str
    collected: str
    expires: str


@dataclass(frozen=True)
class Dashboard:
    html: str
    items: list[HeldItem]

    def values(self, table: str | None = None) -> list[str]:
        return [i.value for i in self.items if table is None or i.table == table]


@dataclass(frozen=True)
class ConsentOutcome:
    """Where every purpose stands afterwards, and what the page told the parent."""

    states: dict[str, str]
    messages: list[str]

    @property
    def purposes_on(self) -> list[str]:
        return sorted(p for p, state in self.states.items() if state == "on")


class ParentClient:
    def __init__(self, base_url: str, *, timeout_s: float = 15.0,
                 verify_tls: bool | str = True, mail_db: str | None = None,
                 read_mail: Callable[[str], str] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        # The parent's own mail program, which the testbed does not have: either the cloud's
        # database (Teddy's cloud) or a function returning the text of the mail sent to an
        # address, newest first (any cloud).
        self.mail_db = mail_db
        self.read_mail = read_mail
        self.timeout_s = timeout_s
        self.http = requests.Session()
        self.http.verify = verify_tls
        self._csrf: str | None = None

    # -- plumbing ---------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        return urljoin(self.base_url + "/", path.lstrip("/"))

    def _check(self, response: requests.Response) -> requests.Response:
        page = None
        if "text/html" in response.headers.get("Content-Type", ""):
            page = _Page(response.text)
            meta = page.find("meta", name="csrf-token")
            if meta:
                self._csrf = meta[0].attrs["content"]
        if response.status_code >= 400:
            message = response.reason or ""
            if page is not None:
                alerts = page.find(role="alert")
                if alerts:
                    message = alerts[0].content
            raise ParentWebError(response.status_code, message, response.url)
        return response

    def get(self, path: str) -> requests.Response:
        return self._check(self.http.get(self._url(path), timeout=self.timeout_s))

    def post(self, path: str, data: dict[str, str] | None = None,
             files: dict[str, tuple[str, bytes, str]] | None = None) -> requests.Response:
        """Submit a form as the page would, CSRF token included."""
        if self._csrf is None:
            self.get("/parent/notice")
        body = {"csrf_token": self._csrf or "", **(data or {})}
        return self._check(self.http.post(self._url(path), data=body, files=files,
                                          timeout=self.timeout_s))

    def _mailed_link(self, email: str, starts_with: str) -> str | None:
        if self.read_mail is not None:
            found = re.search(rf"{re.escape(starts_with)}[^\s\"'<>]+", self.read_mail(email))
            return urlparse(found[0]).path if found else None
        if self.mail_db is None:
            raise ParentWebError(0, "sign-up waits for its e-mail link: give ParentClient "
                                    "mail_db= or read_mail= to read it", self.base_url)
        from cloud.parent_web.outbox import newest_link
        from cloud.storage.db import open_db

        # The cloud's own database (a SQLite file or a postgresql:// URL), already migrated
        # by the running cloud; closed at once so no connection outlives the look.
        mailbox = open_db(self.mail_db, migrate_schema=False)
        try:
            return newest_link(mailbox, email, starts_with)
        finally:
            mailbox.close()

    # -- account ----------------------------------------------------------------------------
    def signup(self, email: str, password: str) -> None:
        """Create the account and confirm it from the mailbox; the parent is signed in after."""
        self.get("/parent/signup")
        self.post("/parent/signup", {"email": email, "password": password})
        link = self._mailed_link(email, "/parent/signup/confirm/")
        if link is None:
            raise ParentWebError(0, f"no confirmation e-mail for {email}", self.base_url)
        self.get(link)
        self.post(link, {"password": password})

    def login(self, email: str, password: str) -> None:
        self.get("/parent/login")
        response = self.post("/parent/login", {"email": email, "password": password})
        if urlparse(response.url).path == "/parent/login":
            raise ParentWebError(response.status_code, "still on the sign-in page", response.url)

    def logout(self) -> None:
        self.post("/parent/logout")

    # -- children and pairing -----------------------------------------------------------------
    def add_child(self, first_name: str = "", age_band: str = "6-8", country: str = "US") -> int:
        self.get("/parent/children/new")
        response = self.post("/parent/children/new", {"first_name": first_name,
                                                      "age_band": age_band, "country": country})
        match = re.search(r"/parent/children/(\d+)$", urlparse(response.url).path)
        if not match:
            raise ParentWebError(response.status_code, "no child page after adding",
                                 response.url)
        return int(match[1])

    def pairing_code(self, child_id: int) -> str:
        page = _Page(self.post(f"/parent/children/{child_id}/pair").text)
        return page.find("output", id="pairing-code")[0].content

    # -- consent ------------------------------------------------------------------------------
    def verify_and_consent(self, child_id: int, method: str, purposes: list[str],
                           **method_fields: Any) -> ConsentOutcome:
        """Allow exactly `purposes` (others: Don't allow) and pass the method's check."""
        method = METHOD_ALIASES.get(method, method)
        choices = self._choices(child_id, set(purposes))
        response = self.post(f"/parent/children/{child_id}/consent",
                             {**choices, "method": method})
        if urlparse(response.url).path.endswith("/verify"):
            response = self._verify(child_id, method, method_fields)
        return self._outcome(response)

    def decline_all(self, child_id: int) -> ConsentOutcome:
        self.get(f"/parent/children/{child_id}/consent")
        return self._outcome(self._confirmed(self.post(f"/parent/children/{child_id}/consent",
                                                       {"decline_all": "1"})))

    def revoke(self, child_id: int, purpose: str) -> ConsentOutcome:
        return self._outcome(self._confirmed(
            self.post(f"/parent/children/{child_id}/consent/{purpose}/revoke")))

    def _confirmed(self, response: requests.Response) -> requests.Response:
        """Press "Turn off and erase" on the confirmation step, as a parent would."""
        page = _Page(response.text)
        if not page.find("input", name="confirmed"):
            return response
        form = {n.attrs["name"]: n.attrs.get("value", "")
                for n in page.find("input", type="hidden") if n.attrs.get("name")}
        form.pop("csrf_token", None)
        action = next(f.attrs["action"] for f in page.find("form")
                      if f.attrs.get("action", "").endswith(("/revoke", "/consent")))
        return self.post(urlparse(action).path, form)

    def _choices(self, child_id: int, wanted: set[str]) -> dict[str, str]:
        page = _Page(self.get(f"/parent/children/{child_id}/consent").text)
        radios = [n.attrs["name"] for n in page.find("input", type="radio")]
        offered = {name.removeprefix("choice_") for name in radios if name.startswith("choice_")}
        unknown = wanted - offered
        if unknown:
            raise ValueError(f"not offered on the consent page: {sorted(unknown)}")
        return {f"choice_{p}": "yes" if p in wanted else "no" for p in sorted(offered)}

    def _verify(self, child_id: int, method: str, fields: dict[str, Any]) -> requests.Response:
        path = f"/parent/children/{child_id}/verify"
        if method == "payment_card":
            return self.post(path, {"card_number": str(fields["card_number"]),
                                    "expiry": fields.get("expiry", "12/34"),
                                    "cvc": fields.get("cvc", "123")})
        if method == "knowledge_questions":
            answers = {**TEST_IDENTITY_ANSWERS, **fields.get("answers", {})}
            return self.post(path, {f"kba_{k}": v for k, v in answers.items()})
        if method == "government_id":
            image = fields.get("id_image", sample_png(640, 400))
            return self.post(path, files={"id_image": ("id.png", image, "image/png")})
        if method == "face_match":
            return self.post(path, files={
                "id_image": ("id.png", fields.get("id_image", sample_png(640, 400)), "image/png"),
                "selfie": ("me.png", fields.get("selfie", sample_png(300, 360, seed=7)),
                           "image/png")})
        if method == "signed_form":
            return self.post(path, {"signer_name": fields.get("signer_name", "Pat Example")},
                             files={"signed_form": ("form.pdf", fields.get("signed_form",
                                                    sample_pdf()), "application/pdf")})
        data = {"phone": fields.get("phone", "+1 555 0100 200")} if method == "text_plus" else {}
        challenge = self.post(path, data)
        request_path = urlparse(challenge.url).path
        if method == "email_plus":
            link = self._latest_message(("email",), request_path)["link"]
            self.get(link)
            token = re.search(r"token=([^&]+)", link)
            assert token is not None
            return self.post(request_path, {"token": fields.get("token", token[1])})
        body = self._latest_message(("sms", "call"), None)["body"]
        code = re.search(r"\b(\d{6})\b", body)
        if code is None:
            raise ParentWebError(200, "no code in the mailbox", self._url("/parent/outbox"))
        return self.post(request_path, {"code": fields.get("code", code[1])})

    def _latest_message(self, channels: tuple[str, ...], link_prefix: str | None
                        ) -> dict[str, Any]:
        for message in self.outbox():
            if message["channel"] in channels and message["delivered"] and (
                    link_prefix is None or (message["link"] or "").startswith(link_prefix)):
                return message
        raise ParentWebError(200, f"no {'/'.join(channels)} message in the mailbox",
                             self._url("/parent/outbox"))

    def _outcome(self, response: requests.Response) -> ConsentOutcome:
        page = _Page(response.text)
        states = {n.attrs["data-purpose"]: n.attrs["data-state"]
                  for n in page.find("tr", data_purpose="*")}
        return ConsentOutcome(states, [n.content for n in page.find("p")
                                       if "flash" in n.attrs.get("class", "").split()])

    def outbox(self) -> list[dict[str, Any]]:
        """Messages in the simulated mailbox, newest first."""
        page = _Page(self.get("/parent/outbox").text)
        starts = [i for i, n in enumerate(page.nodes) if "data-channel" in n.attrs]
        messages = []
        for start, end in zip(starts, [*starts[1:], len(page.nodes)], strict=True):
            node, inner = page.nodes[start], page.nodes[start + 1:end]
            messages.append({
                "channel": node.attrs["data-channel"],
                "delivered": node.attrs["data-delivered"] == "yes",
                "subject": next((n.content for n in inner if n.tag == "h2"), ""),
                "body": next((n.content for n in inner if n.attrs.get("class") == "body"), ""),
                "link": next((n.attrs["href"] for n in inner if n.tag == "a"
                              and n.attrs.get("data-link") == "message"), None),
            })
        return messages

    # -- data ---------------------------------------------------------------------------------
    def dashboard(self, child_id: int) -> Dashboard:
        response = self.get(f"/parent/children/{child_id}/data")
        page = _Page(response.text)
        items = []
        for row in page.find("tr", data_field="*"):
            value = page.next_after(row, "td", "value").content
            a = row.attrs
            items.append(HeldItem(a["data-table"], a["data-row"], a["data-field"], value,
                                  a["data-category"], a["data-purpose"], a["data-collected"],
                                  a["data-expires"]))
        return Dashboard(response.text, items)

    def export(self, child_id: int) -> dict[str, Any]:
        response = self.get(f"/parent/children/{child_id}/export.json")
        document: dict[str, Any] = response.json()
        return document

    def delete_item(self, child_id: int, table: str, row_id: str | int) -> None:
        self.post(f"/parent/children/{child_id}/data/{table}/{row_id}/delete")

    def delete_all(self, child_id: int) -> dict[str, Any]:
        """Erase everything about the child; returns the receipt the page shows."""
        self.get(f"/parent/children/{child_id}/delete")
        answer = self.post(f"/parent/children/{child_id}/delete", {"confirm": "DELETE"})
        # An erasure that outlasts the request's budget answers with its progress; the cloud
        # finishes it in the background and the same page then shows the receipt.
        deadline = time.monotonic() + ERASURE_WAIT_S
        while "receipt-json" not in answer.text and time.monotonic() < deadline:
            time.sleep(0.2)
            answer = self.get(f"/parent/children/{child_id}/delete")
        found = _Page(answer.text).find("pre", id="receipt-json")
        if not found:
            raise ParentWebError(f"erasure of child {child_id} not finished after "
                                 f"{ERASURE_WAIT_S:.0f} s: {answer.status_code}")
        receipt: dict[str, Any] = json.loads(found[0].content)
        return receipt


# -- test documents: what a parent would upload, generated so nothing binary is checked in ------
def sample_png(width: int, height: int, seed: int = 1) -> bytes:
    """A greyscale PNG with a little noise, so it compresses like a photo rather than to nothing."""
    rnd = random.Random(seed)
    # Each row: its own grey level plus a little noise, mapped byte-wise for speed.
    raw = b"".join(b"\x00" + rnd.randbytes(width).translate(
        bytes((y // 2 + b % 6) & 0xFF for b in range(256))) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def sample_pdf(signer: str = "Pat Example") -> bytes:
    """A one-page PDF saying the form was signed, with a valid cross-reference table."""
    text = f"BT /F1 14 Tf 72 720 Td (Teddy parental consent form. Signed: {signer}) Tj ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(text)} >>\nstream\n{text}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = "%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n"
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    return out.encode("latin-1")
