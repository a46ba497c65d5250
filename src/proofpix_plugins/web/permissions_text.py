"""The eight permissions in plain words, for people deciding whether to grant them.

``PERMISSION_DESCRIPTIONS`` (packages/permissions.py) is the technical reference; these are the
sentences the marketplace and the consent screens show. A test keeps the two key sets equal.
"""

from __future__ import annotations

from typing import Final

PLAIN_PERMISSIONS: Final[dict[str, str]] = {
    "files": "Can read the photos and files it is asked to work on.",
    "images": "Can change images, for example resize them or add a watermark, and save the "
              "result as a new version.",
    "metadata": "Can read and change the information stored about your files, such as "
                "camera details, dates and location.",
    "storage": "Can keep its own small notes for your organization, within a size limit.",
    "http": "Can send data to and receive data from the internet, but only to the hosts "
            "it names.",
    "crypto": "Can compute fingerprints and signatures of your files.",
    "events": "Can announce events that start other plugins.",
    "secrets": "Can read settings marked secret, such as passwords or API keys you give it.",
}
