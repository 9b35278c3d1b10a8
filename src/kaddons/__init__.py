"""kaddons: deliver Kubernetes addons as OCI artifacts through GitOps.

The package is layered (see ``docs`` in the README):

- :mod:`kaddons.oci`: the OCI image-spec and distribution-spec (descriptors, layouts, archives,
  the registry client and ``copy``), nothing about addons.
- :mod:`kaddons.cli`: a thin command line over the library.

Every error the library raises is a :class:`kaddons.errors.KaddonsError`.
"""

__version__ = "0.1.0"
