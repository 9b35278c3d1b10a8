"""Operations: what a user does, over the stacks model, the renderers and the GitOps repository (phase 2)."""
