"""CustomResourceDefinitions as code, rendered to `crds/*.yaml`.

The serving kinds share their pod knobs and status shapes; defining them once
here (the way controller-gen derives CRDs from Go types) keeps the three CRDs
consistent. `python -m mlmodel_operator.crdgen crds/` rewrites the files and a
unit test fails if they are stale.
"""
