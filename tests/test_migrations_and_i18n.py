"""Migrations reach head on an empty database and agree with the models; catalogues are complete."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from babel.messages.pofile import read_po

from civic.db import Base, import_all_models
from civic.i18n import LANGUAGES, LOCALES_DIR
from civic.migrations import include_object
from civic.settings import ROOT


async def test_models_and_migrations_agree(engine) -> None:  # type: ignore[no-untyped-def]
    """The test database was built by `alembic upgrade head` (conftest); autogenerate must find no difference."""
    import_all_models()

    def diff(connection):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(connection, opts={"compare_type": True, "include_object": include_object})
        return compare_metadata(context, Base.metadata)

    async with engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []


def _extracted_msgids(tmp: Path) -> set[str]:
    pot = tmp / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", str(ROOT / "civic/i18n/babel.cfg"),
         "-k", "N_", "--no-location", "-o", str(pot), str(ROOT)],
        check=True, capture_output=True, cwd=ROOT,
    )
    with pot.open("rb") as fh:
        return {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fh) if m.id}


def test_every_message_is_translated_in_every_language(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Fails on any msgid in the code or templates that a catalogue lacks, leaves empty, or marks fuzzy."""
    wanted = _extracted_msgids(tmp_path)
    assert len(wanted) > 100
    for code in LANGUAGES:
        with (LOCALES_DIR / code / "LC_MESSAGES" / "messages.po").open("rb") as fh:
            catalog = read_po(fh)
        done = {
            (m.id if isinstance(m.id, str) else m.id[0]) for m in catalog
            if m.id and not m.fuzzy and (all(m.string) if isinstance(m.string, tuple) else m.string)
        }
        missing = sorted(wanted - done)
        assert not missing, f"{code}: {len(missing)} untranslated or fuzzy messages, e.g. {missing[:5]}"
