"""tf.train.export_meta_graph / import_meta_graph: a graph in one file, `NAME.meta`.

The file is a safetensors file: the graph document (graphc/saving/graph_io.py, JSON) in its
metadata under "graph", the graph's constants as its tensors. Saver.save writes
`PREFIX.meta` beside each checkpoint (write_meta_graph=True, TF1's default), so a training
script's checkpoint directory is enough to rebuild the model in another process:

    saver = tf.train.import_meta_graph(prefix + ".meta")   # the graph, into the default one
    saver.restore(sess, prefix)                             # its variables

(import_meta_graph lives with the Saver it returns, in graphc/saving/saver.py.)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from graphc.saving.format import TensorFile, write_tensors
from graphc.saving.graph_io import GraphFormatError, encode_graph

META_FORMAT = "graphc-meta-graph-1"


@dataclass
class MetaGraph:
    """What export_meta_graph returns (in place of TF1's MetaGraphDef): the graph document
    and its constants; import_meta_graph takes it as well as a file."""
    doc: dict
    arrays: dict


def export_meta_graph(filename=None, meta_info_def=None, graph_def=None, saver_def=None,
                      collection_list=None, as_text=False, graph=None, export_scope=None,
                      clear_devices=False, clear_extraneous_savers=False,
                      strip_default_attrs=False, save_debug_info=False, **kwargs) -> MetaGraph:
    """Write the graph (default: the default graph) to `filename` if given; return it as a
    MetaGraph."""
    from graphc.framework.graph import get_default_graph
    if export_scope:
        raise NotImplementedError("export_meta_graph: export_scope is not supported; export "
                                  "the whole graph")
    doc, arrays = encode_graph(graph or get_default_graph())
    if collection_list is not None:
        wanted = set(collection_list)
        doc["collections"] = {k: v for k, v in doc["collections"].items() if k in wanted}
    if filename is not None:
        write_tensors(os.fspath(filename), arrays,
                      extra={"format": META_FORMAT, "graph": json.dumps(doc)})
    return MetaGraph(doc, arrays)


def read_meta_graph(path: str) -> tuple:
    """(graph document, arrays) of a `.meta` file; a clear error for anything else."""
    f = TensorFile(path)
    if f.metadata.get("format") != META_FORMAT or "graph" not in f.metadata:
        raise GraphFormatError(f"{path} is not a graphc meta graph file (its format is "
                               f"{f.metadata.get('format')!r}); TensorFlow's own .meta "
                               "files (MetaGraphDef protobufs) cannot be imported")
    try:
        doc = json.loads(f.metadata["graph"])
    except json.JSONDecodeError as err:
        raise GraphFormatError(f"{path}: the graph document is not valid JSON ({err})"
                               ) from None
    return doc, _Lazy(f)


class _Lazy:
    """Constants read from the file when the decoder asks for them."""

    def __init__(self, f: TensorFile):
        self._f = f

    def __getitem__(self, key):
        return self._f.get(key)
