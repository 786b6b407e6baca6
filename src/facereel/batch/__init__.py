"""The batch layer: heavy per-item stages run in this process or on a Ray cluster.

A :class:`~facereel.batch.runner.Stage` loads its models once (:meth:`setup`) and maps a batch of
small item dicts to result dicts.  :func:`~facereel.batch.runner.run_batch` skips items whose
results are already in the :class:`~facereel.batch.store.ResultStore`, runs the rest either in
process or as Ray Data ``map_batches`` over an actor pool (one model load per actor), and writes
every result as it arrives, so a lost worker costs only its batch and a rerun resumes.
"""
