"""How large the parent's verification uploads may be, shared by the server's request loop
(`cloud.server_worker`) and the upload checks (`cloud.parent_web.uploads`).

A phone photo is typically 2 to 8 MB (a 48-megapixel JPEG up to about 12 MB); a face match
sends two. Anything larger than `MAX_PHOTO_BYTES` is refused with the form shown again; a
whole request larger than `MAX_UPLOAD_BODY_BYTES` is refused by the server before it is read.
"""

MAX_PHOTO_BYTES = 15 * 1024 * 1024
MAX_UPLOAD_BODY_BYTES = 32 * 1024 * 1024
