"""``kaddons serve``: the REST API over the same library calls as the CLI (issue 15; ankra-addons.md §6.2)."""
