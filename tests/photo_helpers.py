"""Photos as a phone takes them, for the upload tests: JPEGs of a few MB whose EXIF says
where they were taken, and a way to tell whether a file still says so."""

from __future__ import annotations

import io

from PIL import Image

from cloud.bench.photos import photo_like

EXIF_GPS_IFD = 0x8825
EXIF_DESCRIPTION, EXIF_MAKE, EXIF_ORIENTATION = 0x010E, 0x010F, 0x0112
CANARY = "GPS-CANARY-51N-0W-7f3a"


def phone_exif(orientation: int = 1) -> Image.Exif:
    """What a phone writes into a photo: its make, a description, and where it was taken."""
    exif = Image.Exif()
    exif[EXIF_MAKE] = "Examplephone"
    exif[EXIF_DESCRIPTION] = CANARY
    exif[EXIF_ORIENTATION] = orientation
    gps = exif.get_ifd(EXIF_GPS_IFD)
    gps.update({1: "N", 2: (51.0, 30.0, 26.0), 3: "W", 4: (0.0, 7.0, 39.0)})
    return exif


def phone_photo(size: tuple[int, int] = (4000, 3000), quality: int = 93,
                orientation: int = 1) -> bytes:
    """A 12-megapixel JPEG that compresses like a photo (about 4 MB), with GPS in its EXIF."""
    return photo_like(size, "JPEG", quality, exif=phone_exif(orientation))


def location_in(data: bytes) -> list[str]:
    """Where an image file still says where it was taken or by what phone."""
    found = []
    if CANARY.encode() in data:
        found.append("description")
    with Image.open(io.BytesIO(data)) as image:
        exif = image.getexif()
        if exif.get_ifd(EXIF_GPS_IFD):
            found.append("gps")
        if EXIF_MAKE in exif:
            found.append("make")
    return found
