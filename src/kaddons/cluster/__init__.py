"""What the cluster says about add-ons (phase 2, issue 13): health per object, resource map, lifecycle states.

A health rule never talks to anything: :mod:`.health` assesses one object from its own fields.
"""
