"""nbgrader's exchange with one check made strict; only nbgrader_config.py imports this module.

A student can hand in under another student's name (`nbgrader submit ch8 --student OTHER`), and
nbgrader's collect only warns ("cheating attempt?") and then files it as OTHER's work, over
OTHER's own hand-in. Here a hand-in counts only for the account that owns its files: others are
left in the exchange, named in the log, and each student's latest own hand-in is collected.
Where every server runs as one account (`jovyan` in Zero to JupyterHub's images), owners say
nothing about students and nothing is refused, as in nbgrader.
"""
from __future__ import annotations

import os
import pwd

from nbgrader.exchange.default.collect import ExchangeCollect

SHARED_ACCOUNT = "jovyan"  # nbgrader's own name for "one account for everyone" (nbgrader.utils.get_username)


def owner_of(path: str) -> str:
    """Return the name of the account that owns ``path`` (its uid if the account is gone)."""
    uid = os.stat(path).st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


class OwnerCheckedCollect(ExchangeCollect):
    """nbgrader's collect, refusing hand-ins whose files belong to another account than the student they name."""

    def _sort_by_timestamp(self, records: list[dict]) -> list[dict]:
        """Return a student's own hand-ins, newest first; refused ones only if there is nothing else."""
        own = [record for record in records if self._is_own(record)]
        if not own:  # nbgrader picks one record per student: keep the refused ones out of copy_files below
            self._refused.extend(records)
        return super()._sort_by_timestamp(own or records)

    def _is_own(self, record: dict) -> bool:
        """Return whether ``record``'s files belong to the student it names (or to the shared account)."""
        owner = owner_of(os.path.join(self.inbound_path, record["filename"]))
        if owner in (record["username"], SHARED_ACCOUNT):
            return True
        self.log.error("Refused %s: handed in by %s under the name of %s; their own hand-ins are collected.",
                       record["filename"], owner, record["username"])
        return False

    def init_src(self) -> None:
        """Choose each student's latest own hand-in, as nbgrader chooses the latest one."""
        self._refused: list[dict] = []
        super().init_src()
        self.src_records = [record for record in self.src_records if record not in self._refused]
