"""The clerk of the power-cut test, as a process of its own: queue documents one after the
other and say "queued <DocumentId>" (flushed) each time the office answered that it was
queued — what a clerk would have been told. The test freezes this process with the
daemons and checks every such row survives the cut.

    python tests/powercut_clerk.py CONFIG COUNT SEED
"""

from __future__ import annotations

import random
import sys
import time

from axis_fixtures import COMMUNE_A, DISTRICT, make_document

from edoc_exchange import edxml
from edoc_exchange import office as steps
from edoc_exchange.config import load_settings


def main(config: str, count: int, seed: int) -> None:
    rng = random.Random(seed)
    office = steps.build_office(load_settings(config), receiving=False)
    for n in range(count):
        doc = make_document(COMMUNE_A, [DISTRICT], str(5000 + n), attachment_size=2000)
        steps.queue_message(office, edxml.write(doc), composed=True)
        print(f"queued {doc.document_id}", flush=True)
        time.sleep(rng.uniform(0.0, 0.15))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
