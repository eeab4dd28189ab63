"""Verifiable parental consent: the COPPA methods (R08), each simulated realistically.

Instant methods are checked within one request: a payment card ($0.50 charged and refunded at
once), knowledge-based questions, a photo ID, a face match, a signed form. Challenge methods
finish in a second step through the simulated mailbox (`outbox`): a video call, e-mail plus and
text plus. Only the method's name is ever stored; card numbers, documents and images are
checked and discarded. E-mail plus and text plus can never enable third-party sharing (R09).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from werkzeug.datastructures import FileStorage

from cloud.parent_web.uploads import (
    CheckedPhoto,
    UploadProblem,
    is_pdf,
    photo_for_check,
    read_then_wipe,
)
from cloud.seam import seam_point

THIRD_PARTY = "third_party"
TEST_CHARGE = "$0.50"
DECLINED_TEST_CARD = "4000000000000002"
MIN_DOCUMENT_BYTES = 1024
MIN_ID_SIZE = (400, 250)
ID_ASPECT = (1.3, 1.9)  # ID-1 cards are 1.59 wide per unit high, passport pages 1.42
MIN_SELFIE_SIZE = (200, 200)


class VerificationFailed(ValueError):
    """The check did not pass; the message says why and what to do."""


@dataclass(frozen=True)
class Method:
    name: str
    title: str
    summary: str
    challenge: bool
    enables_third_party: bool = True


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("payment_card", "Payment card check",
           f"We charge {TEST_CHARGE} to your card and refund it at once. The card number is "
           "never stored.", challenge=False),
    Method("knowledge_questions", "Questions only you can answer",
           "Three questions from a credit bureau's record about you.", challenge=False),
    Method("government_id", "Photo ID check",
           "Upload a photo of your driving licence or passport. It is checked and deleted at "
           "once, never stored.", challenge=False),
    Method("face_match", "Face match to photo ID",
           "Upload your photo ID and a selfie. Both are compared and deleted at once.",
           challenge=False),
    Method("signed_form", "Signed consent form",
           "Print the consent form, sign it and upload a scan or photo of it.",
           challenge=False),
    Method("video_call", "Video call with our team",
           "A trained team member checks your ID on a video call and gives you a code.",
           challenge=True),
    Method("email_plus", "E-mail plus",
           "We e-mail you a link, then a confirmation a day later. Cannot turn on sharing "
           "with partners.", challenge=True, enables_third_party=False),
    Method("text_plus", "Text plus",
           "We text you a code, then a confirmation a day later. Cannot turn on sharing with "
           "partners.", challenge=True, enables_third_party=False),
)}


def third_party_refusal(method: str, purposes: list[str] | set[str]) -> str | None:
    """R09: the message to show when this method may not switch on these purposes."""
    spec = METHODS[method]
    if THIRD_PARTY in purposes and not spec.enables_third_party:
        return (f"{spec.title} is not strong enough to allow sharing with partners (COPPA "
                "312.5(b)). Choose another way to verify, or don't allow sharing: Teddy works "
                "fully without it.")
    return None


@dataclass(frozen=True)
class Outcome:
    method: str
    evidence: tuple[str, ...]


# -- payment card ----------------------------------------------------------------------------
@seam_point("card_number_valid")
def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def check_card(number: str, expiry: str, cvc: str, now: float) -> Outcome:
    digits = re.sub(r"[ -]", "", number)
    if not digits.isdigit() or not 13 <= len(digits) <= 19:
        raise VerificationFailed("Enter the card number: 13 to 19 digits.")
    match = re.fullmatch(r"\s*(\d{1,2})\s*/\s*(\d{2})\s*", expiry)
    if not match or not 1 <= int(match[1]) <= 12:
        raise VerificationFailed("Enter the expiry date as MM/YY.")
    month, year = int(match[1]), 2000 + int(match[2])
    today = datetime.fromtimestamp(now, UTC)
    if (year, month) < (today.year, today.month):
        raise VerificationFailed("This card has expired. No charge was made.")
    if not re.fullmatch(r"\d{3,4}", cvc.strip()):
        raise VerificationFailed("Enter the 3 or 4 digit security code.")
    if not luhn_valid(digits):
        raise VerificationFailed("The card was declined: that is not a valid card number. "
                                 "No charge was made.")
    if digits == DECLINED_TEST_CARD:
        raise VerificationFailed(f"Your bank declined the {TEST_CHARGE} check. No charge was "
                                 "made. Try another card or another method.")
    return Outcome("payment_card", (
        f"Charged {TEST_CHARGE} to the card ending {digits[-4:]}. Refunded {TEST_CHARGE} at "
        "once: you will see both on your statement. The card number was not stored.",
    ))


# -- knowledge-based questions --------------------------------------------------------------
@dataclass(frozen=True)
class Question:
    key: str
    text: str
    choices: tuple[str, ...]
    answer: str


# The simulated bureau holds one test identity, documented on the page like a test card.
KBA_QUESTIONS = (
    Question("street", "Which of these streets have you lived on?",
             ("Harbor Road", "Maple Avenue", "Birch Lane", "None of these"), "Maple Avenue"),
    Question("car", "Which of these cars have you had a loan for?",
             ("2016 Honda Civic", "2019 Ford Focus", "2014 Toyota Corolla", "None of these"),
             "2014 Toyota Corolla"),
    Question("county", "In which county did you open your first bank account?",
             ("Travis County", "Orange County", "King County", "None of these"), "King County"),
)
TEST_IDENTITY_ANSWERS = {q.key: q.answer for q in KBA_QUESTIONS}


def check_kba(answers: Mapping[str, str]) -> Outcome:
    if any(not answers.get(q.key) for q in KBA_QUESTIONS):
        raise VerificationFailed("Answer all three questions.")
    right = sum(answers[q.key] == q.answer for q in KBA_QUESTIONS)
    if right < len(KBA_QUESTIONS):
        raise VerificationFailed("Those answers do not match the bureau's record, so we could "
                                 "not verify you. Nothing was changed. Try another method.")
    return Outcome("knowledge_questions", (
        f"All {len(KBA_QUESTIONS)} answers matched the bureau's record.",
        "Your answers were not stored.",
    ))


# -- documents and images -------------------------------------------------------------------
def _id_document(data: bytearray) -> CheckedPhoto:
    photo = photo_for_check(data, "your photo ID")
    if len(data) < MIN_DOCUMENT_BYTES or photo.width < MIN_ID_SIZE[0] or \
            photo.height < MIN_ID_SIZE[1]:
        raise VerificationFailed(f"The ID photo is too small to read: use at least "
                                 f"{MIN_ID_SIZE[0]}×{MIN_ID_SIZE[1]} pixels.")
    if not ID_ASPECT[0] <= photo.aspect <= ID_ASPECT[1]:
        raise VerificationFailed("That does not look like a licence or passport page: photograph "
                                 "the whole document, landscape, edge to edge.")
    return photo


def _described(photo: CheckedPhoto) -> str:
    return f"{photo.kind}, {photo.width}×{photo.height} pixels"


def check_government_id(upload: FileStorage | None) -> Outcome:
    try:
        with read_then_wipe(upload, "your photo ID") as data:
            described = _described(_id_document(data))
    except UploadProblem as exc:
        raise VerificationFailed(str(exc)) from exc
    return Outcome("government_id", (
        f"Photo ID received ({described}) and checked.",
        "The photo was checked as a small copy without its location or other metadata, and "
        "deleted as soon as the check finished. It was never stored.",
    ))


def check_face_match(id_upload: FileStorage | None, selfie: FileStorage | None) -> Outcome:
    try:
        with read_then_wipe(id_upload, "your photo ID") as id_data, \
                read_then_wipe(selfie, "your selfie") as face_data:
            id_photo = _id_document(id_data)
            face = photo_for_check(face_data, "your selfie")
            if face.width < MIN_SELFIE_SIZE[0] or face.height < MIN_SELFIE_SIZE[1]:
                raise VerificationFailed("The selfie is too small to compare: use at least "
                                         f"{MIN_SELFIE_SIZE[0]}×{MIN_SELFIE_SIZE[1]} pixels.")
            if face_data == id_data or face.copy == id_photo.copy:
                raise VerificationFailed("The selfie is the same picture as the ID. Take a new "
                                         "photo of your face.")
    except UploadProblem as exc:
        raise VerificationFailed(str(exc)) from exc
    return Outcome("face_match", (
        f"Photo ID ({_described(id_photo)}) and selfie received; the face matched the ID "
        "photo.",
        "Both were compared as small copies without location or other metadata, and deleted "
        "as soon as the check finished. Neither was stored.",
    ))


def check_signed_form(upload: FileStorage | None, signer: str) -> Outcome:
    signer = " ".join(signer.split())
    if not 2 <= len(signer) <= 80:
        raise VerificationFailed("Type your full name as you signed it on the form.")
    try:
        with read_then_wipe(upload, "the signed form") as data:
            if len(data) < MIN_DOCUMENT_BYTES // 4:
                raise VerificationFailed("That file is too small to be a signed form.")
            if is_pdf(data):
                described = "PDF"
            else:
                described = f"{photo_for_check(data, 'the signed form').kind} scan"
    except UploadProblem as exc:
        raise VerificationFailed(str(exc).replace("a JPEG, PNG", "a PDF, JPEG, PNG")
                                 .replace("a JPEG or PNG", "a PDF, JPEG or PNG")) from exc
    return Outcome("signed_form", (
        f"Signed form received ({described}) and checked against the name you typed.",
        "The file was deleted after the check. Only the fact that you signed is kept.",
    ))
