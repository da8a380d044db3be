"""Checks of the symmetry operators a CIF lists: each one parsed, together a group.

gemmi drops an operator it cannot parse without a word and then, when the file names no
space group it knows, expands nothing: one typo turns a structure into its asymmetric unit
(a P1 cell, other peaks, another label). Here every listed operator is parsed with
``gemmi.Op``; the set must hold the identity, be closed under composition (rotation W and
translation t, ``(W1, t1)(W2, t2) = (W1 W2, W1 t2 + t1)`` with t modulo lattice translations)
and, when the file also names a space group, be that group's operators.
"""

from __future__ import annotations

import gemmi
import numpy as np

from xrdsym.errors import StructureError

#: Most operators a listed group may have (Fm-3m: 192 in its conventional cell; a supercell
#: setting may list a few times more).
MAX_OPERATORS = 1536

#: gemmi stores an operator's rotation and translation as integers in units of 1/24.
_DEN = gemmi.Op.DEN


def parse_operators(triplets: list[str], name: str) -> list[gemmi.Op]:
    """Every listed operator as a ``gemmi.Op``.

    Raises:
        StructureError: an operator that does not parse or whose rotation is not a proper or
            improper rotation of the lattice (determinant +-1), naming it.
    """
    if len(triplets) > MAX_OPERATORS:
        raise StructureError(
            f"{name}: {len(triplets)} symmetry operators, more than the {MAX_OPERATORS} a "
            "space group can list"
        )
    operators = []
    for number, triplet in enumerate(triplets, start=1):
        try:
            op = gemmi.Op(triplet)
        except (RuntimeError, ValueError) as exc:
            raise StructureError(
                f"{name}: symmetry operator {number} {triplet!r} cannot be read ({exc})"
            ) from None
        rotation = np.array(op.rot, dtype=np.int64)
        if (
            rotation.tolist() != (rotation // _DEN * _DEN).tolist()
            or abs(round(float(np.linalg.det(rotation / _DEN)))) != 1
        ):
            raise StructureError(
                f"{name}: symmetry operator {number} {triplet!r} is not a rotation of the lattice"
            )
        operators.append(op)
    return operators


def _codes(rotations: np.ndarray, translations: np.ndarray) -> np.ndarray:
    """One integer per operator: rotation entries (-1, 0, 1) and translations mod 1 in 1/24."""
    digits = np.concatenate(
        [rotations.reshape(*rotations.shape[:-2], 9) + 1, np.mod(translations, _DEN)], axis=-1
    )
    bases = np.array([3] * 9 + [_DEN] * 3, dtype=np.int64)
    weights = np.concatenate([[1], np.cumprod(bases[:-1])]).astype(np.int64)
    return np.asarray(digits @ weights, dtype=np.int64)


def check_group(operators: list[gemmi.Op], triplets: list[str], name: str) -> None:
    """Refuse operators without the identity or not closed under composition.

    Raises:
        StructureError: naming the two operators whose product is not listed.
    """
    rotations = np.array([op.rot for op in operators], dtype=np.int64) // _DEN
    translations = np.array([op.tran for op in operators], dtype=np.int64)
    codes = _codes(rotations, translations)
    identity = _codes(np.eye(3, dtype=np.int64)[None], np.zeros((1, 3), dtype=np.int64))
    if not np.isin(identity, codes).all():
        raise StructureError(f"{name}: the symmetry operators do not include the identity x,y,z")
    products = _codes(
        np.einsum("aij,bjk->abik", rotations, rotations),
        np.einsum("aij,bj->abi", rotations, translations) + translations[:, None, :],
    )
    missing = np.argwhere(~np.isin(products, codes))
    if missing.size:
        # The mistyped operator is the factor of most products that are not listed.
        culprit = int(np.argmax(np.bincount(missing.ravel(), minlength=len(operators))))
        a, b = (int(i) for i in missing[np.any(missing == culprit, axis=1)][0])
        product = (operators[a] * operators[b]).wrap().triplet()
        raise StructureError(
            f"{name}: symmetry operator {culprit + 1} {triplets[culprit]!r} does not belong to "
            f"a group with the others: {triplets[a]!r} x {triplets[b]!r} = {product!r} is not "
            "listed"
        )


def check_operators(
    triplets: list[str], named: gemmi.SpaceGroup | None, name: str
) -> gemmi.SpaceGroup | None:
    """Check a file's listed operators (see the module docstring).

    Args:
        triplets: the operators as the file lists them (``x,y,z`` form).
        named: the space group the file names, if gemmi knows it.
        name: the structure, for messages.

    Returns:
        The space group the operators form (gemmi's table), or None when they are not one of
        its settings (a group all the same).

    Raises:
        StructureError: an unreadable operator, operators that are not a group, or a group
            other than the named one.
    """
    if not triplets:
        return named
    operators = parse_operators(triplets, name)
    check_group(operators, triplets, name)
    found = gemmi.find_spacegroup_by_ops(gemmi.GroupOps(operators))
    if named is not None and (found is None or found.number != named.number):
        formed = "no tabulated space group" if found is None else f"{found.hm} ({found.number})"
        raise StructureError(
            f"{name}: the {len(operators)} symmetry operators form {formed}, but the file "
            f"names {named.hm} ({named.number})"
        )
    return found
