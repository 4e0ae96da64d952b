"""Checkpoints that survive a kill: save with ``tf.train.CheckpointManager``, restore the newest
usable one.

``CheckpointManager.save`` writes the data and index files first and only then rewrites the
``checkpoint`` state file (each by write-to-temporary-then-rename), so a SIGKILL during a save
leaves the previous checkpoint listed. A newest checkpoint can still be unusable (a disk that
lost data, a copy cut short): ``restore_latest`` then says so and falls back to the one before.
"""

import glob
import os
import re
from typing import Callable, List, Optional

import tensorflow as tf

from mtl_tf.cli import first_line


def candidates(manager: tf.train.CheckpointManager) -> List[str]:
    """Checkpoint prefixes in ``manager.directory``, newest first: those the state file lists plus
    any ``ckpt-N.index`` on disk (the state file itself may be the damaged part)."""
    found = set(manager.checkpoints)
    for index in glob.glob(os.path.join(manager.directory, "ckpt-*.index")):
        found.add(index[:-len(".index")])

    def number(prefix):
        m = re.search(r"-(\d+)$", prefix)
        return int(m.group(1)) if m else -1
    return sorted(found, key=number, reverse=True)


def restore_latest(checkpoint: tf.train.Checkpoint, manager: tf.train.CheckpointManager,
                   log: Callable[[str], None] = print) -> Optional[str]:
    """Restore the newest checkpoint that reads back completely; returns its prefix (None: none)."""
    for prefix in candidates(manager):
        try:
            checkpoint.restore(prefix).assert_existing_objects_matched()
            return prefix
        except (tf.errors.OpError, ValueError, AssertionError, IndexError, KeyError, EOFError) as e:
            log(f"checkpoint {prefix} is unusable ({type(e).__name__}: {first_line(e)}); trying the previous one")
    return None
