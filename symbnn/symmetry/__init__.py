"""Symmetry groups acting on MLP parameters, and canonical forms."""

from symbnn.symmetry import batched
from symbnn.symmetry.align import align
from symbnn.symmetry.base import Group, GroupElement, GroupSpec
from symbnn.symmetry.groups import (
    KINDS,
    logit_shifts,
    make_group,
    permutations,
    product,
    scalings,
    sign_flips,
    symmetry_of,
)

__all__ = [
    "KINDS",
    "Group",
    "GroupElement",
    "GroupSpec",
    "align",
    "batched",
    "logit_shifts",
    "make_group",
    "permutations",
    "product",
    "scalings",
    "sign_flips",
    "symmetry_of",
]
