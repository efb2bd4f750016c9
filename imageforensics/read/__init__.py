"""Reading inputs: archive bytes (a file, a directory, stdin or a snapshot) into the model, in one forward pass.

The only stage that touches files and streams. ``read_input`` reads one
input, ``parse_selector`` reads the one grammar naming an image of an input
(every subcommand's), ``select_image`` chooses the image a spec designates (``a.tar:name:tag``,
``a.tar@N``, ``--platform``), ``choose`` does both, and ``choose_pair``
reads two inputs in parallel, deferring content digests to the layers the
diff compares when told which (``NeededLayers``); ``copy_file`` copies one file's bytes out of the layer that holds them.
"""

from imageforensics.read._archive import read_archive, read_stream
from imageforensics.read._file_bytes import copy_file
from imageforensics.read._progress import Progress
from imageforensics.read._selection import Selector, parse_input_spec, parse_platform, parse_selector, select_image
from imageforensics.read._sources import Chosen, NeededLayers, choose, choose_pair, read_input

__all__ = [
    "Chosen",
    "NeededLayers",
    "Progress",
    "Selector",
    "choose",
    "choose_pair",
    "copy_file",
    "parse_input_spec",
    "parse_platform",
    "read_archive",
    "read_input",
    "parse_selector",
    "read_stream",
    "select_image",
]
