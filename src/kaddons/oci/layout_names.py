"""The fixed names of an OCI image layout (image-spec ``image-layout.md``), in a module of their own so that the
code reading tar members can know them without importing the layout code and its models."""

LAYOUT_FILE = "oci-layout"
INDEX_FILE = "index.json"
LAYOUT_VERSION = "1.0.0"
